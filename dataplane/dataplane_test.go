package dataplane

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
)

func TestAllowedForwardsNormalisedWithIdentity(t *testing.T) {
	st := startStack(t, nil)
	r := do(t, st.addr, "GET", "/v1//users/./42?expand=1", map[string]string{
		"X-API-Key":           hrisKey,
		"X-Portcullis-Tenant": "globex",
		"x-portcullis-scopes": "admin:settings",
		"X-Portcullis-Admin":  "true", // not one the sidecar sets: only stripping removes it
		"Connection":          "close, X-Secret-Hop",
		"X-Secret-Hop":        "1",
		"X-Request-ID":        "req-123",
	}, "")
	if r.status != 200 || r.body != "upstream ok" {
		t.Fatalf("got %d %q, want 200 from upstream", r.status, r.body)
	}
	got := st.up.received()
	if len(got) != 1 {
		t.Fatalf("upstream got %d requests, want 1", len(got))
	}
	u := got[0]
	if u.uri != "/v1/users/42?expand=1" {
		t.Errorf("upstream uri = %q, want the normalised /v1/users/42?expand=1", u.uri)
	}
	want := map[string]string{
		"x-portcullis-tenant": "acme", "x-portcullis-client": "acme-hris", "x-portcullis-key-id": "acmehris1",
		"x-portcullis-scopes": "read:users write:records", "x-portcullis-auth-method": "api_key", "x-request-id": "req-123",
	}
	for k, v := range want {
		if u.headers[k] != v {
			t.Errorf("upstream header %s = %q, want %q", k, u.headers[k], v)
		}
	}
	for _, k := range []string{"x-api-key", "authorization", "x-secret-hop", "x-portcullis-admin"} {
		if _, ok := u.headers[k]; ok {
			t.Errorf("upstream received %s; it must be stripped", k)
		}
	}
	rec := st.sink.last(t)
	if rec.Decision != audit.Allowed || rec.Status != 200 || rec.Tenant != "acme" || rec.Client != "acme-hris" ||
		string(rec.KeyID()) != "acmehris1" || rec.Route != "/v1/users/{id}" || string(rec.Path()) != "/v1/users/42" ||
		string(rec.RequestID()) != "req-123" || rec.AuthMethod != audit.AuthAPIKey || rec.PolicyRevision != 1 {
		t.Errorf("audit record = %+v", rec)
	}
}

// A request served by the fasthttp server is timed from the server's own
// arrival reading (Server.arrival): the audit time falls inside the
// exchange and the duration covers the upstream's delay.
func TestAuditTimesComeFromArrival(t *testing.T) {
	st := startStack(t, nil)
	st.up.delay = 20 * time.Millisecond
	before := time.Now().UnixNano()
	if r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("got %d %s, want 200", r.status, r.body)
	}
	after := time.Now().UnixNano()
	rec := st.sink.last(t)
	if rec.Time < before || rec.Time > after {
		t.Errorf("audit time %d outside the exchange [%d, %d]", rec.Time, before, after)
	}
	if d := time.Duration(rec.Duration); d < st.up.delay || rec.Time+rec.Duration > after {
		t.Errorf("audit duration %v: want at least the upstream's %v, ending by the reply", d, st.up.delay)
	}
}

func TestPublicRouteNeedsNoCredential(t *testing.T) {
	st := startStack(t, nil)
	if r := do(t, st.addr, "GET", "/v1/status", nil, ""); r.status != 200 {
		t.Fatalf("public route: got %d, want 200", r.status)
	}
	if h := st.up.received()[0].headers; h["x-portcullis-tenant"] != "" {
		t.Errorf("public request carried identity %q", h["x-portcullis-tenant"])
	}
}

// Unknown id, wrong secret, revoked, expired and not-yet-valid keys must be
// indistinguishable: same status, same body.
func TestBadCredentialsLookAlike(t *testing.T) {
	st := startStack(t, nil)
	snap := loadExample(t)
	expired, exSpec := mustKey(t, "acme-hris", time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	early, earlySpec := mustKey(t, "acme-hris", time.Now().Add(time.Hour), time.Time{})
	swapWithKeys(t, st.store, snap.Doc, exSpec, earlySpec)
	cases := map[string]map[string]string{
		"no credential":  nil,
		"unknown id":     key("pk_nosuchkey1_DemoAcmeHrisSecret000000000000000001"),
		"wrong secret":   key("pk_acmehris1_WrongSecretWrongSecretWrongSecret0001"),
		"revoked":        key(revokedKey),
		"expired":        key(expired),
		"not yet valid":  key(early),
		"malformed":      key("pk_short"),
		"bearer unknown": {"Authorization": "Bearer pk_nosuchkey1_DemoAcmeHrisSecret000000000000000001"},
		"query string":   nil,
	}
	var first string
	for name, h := range cases {
		if h == nil {
			h = map[string]string{}
		}
		h["X-Request-ID"] = "same-id"
		target := "/v1/users"
		if name == "query string" {
			target = "/v1/users?api_key=" + hrisKey
		}
		r := do(t, st.addr, "GET", target, h, "")
		if r.status != 401 {
			t.Errorf("%s: got %d, want 401", name, r.status)
		}
		if first == "" {
			first = r.body
		} else if r.body != first {
			t.Errorf("%s: body %q differs from %q", name, r.body, first)
		}
		if e := r.errorBody(t); e.Error != "unauthenticated" {
			t.Errorf("%s: error = %q", name, e.Error)
		}
	}
	if n := len(st.up.received()); n != 0 {
		t.Errorf("upstream received %d unauthenticated requests", n)
	}
}

func mustKey(t *testing.T, client string, nb, na time.Time) (string, policy.KeySpec) {
	t.Helper()
	k, spec, err := policy.GenerateKey(client, "test", "T-1", nb, na)
	if err != nil {
		t.Fatal(err)
	}
	return k, spec
}

func swapWithKeys(t *testing.T, store *policy.Store, doc *policy.Document, keys ...policy.KeySpec) {
	t.Helper()
	snap, err := policy.Compile(doc, policy.Live{Revision: 2, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	store.Swap(snap)
}

func TestBearerAPIKeyAccepted(t *testing.T) {
	st := startStack(t, nil)
	r := do(t, st.addr, "GET", "/v1/users", map[string]string{"Authorization": "Bearer " + hrisKey}, "")
	if r.status != 200 {
		t.Fatalf("got %d %s, want 200", r.status, r.body)
	}
}

func TestScopesAndPrivilegedClasses(t *testing.T) {
	st := startStack(t, nil)
	cases := []struct {
		name, method, target, key string
		headers                   map[string]string
		status                    int
		errName                   string
	}{
		{"wrong scope", "GET", "/v1/reports/7", hrisKey, nil, 403, "forbidden"},
		{"other tenant's scope", "GET", "/v1/users", globexKey, nil, 403, "forbidden"},
		{"privileged from loopback", "PUT", "/v1/admin/settings", adminKey, nil, 200, ""},
		{"privileged without scope", "PUT", "/v1/admin/settings", hrisKey, nil, 403, "forbidden"},
		{"integration admin from loopback", "POST", "/v1/integrations", adminKey, nil, 403, "network_denied"},
		{"spoofed forwarded-for", "POST", "/v1/integrations", adminKey, map[string]string{"X-Forwarded-For": "10.1.2.3"}, 403, "network_denied"},
		{"bulk export", "POST", "/v1/exports", adminKey, nil, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := key(c.key)
			for k, v := range c.headers {
				h[k] = v
			}
			r := do(t, st.addr, c.method, c.target, h, "")
			if r.status != c.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, c.status)
			}
			if c.errName != "" {
				if e := r.errorBody(t); e.Error != c.errName {
					t.Errorf("error = %q, want %q", e.Error, c.errName)
				}
			}
		})
	}
}

func TestTrustedProxyGivesSourceAddress(t *testing.T) {
	st := startStack(t, nil)
	doc := *loadExample(t).Doc
	doc.TrustedProxies = []string{"127.0.0.0/8"}
	snap, err := policy.Compile(&doc, policy.Live{Revision: 3})
	if err != nil {
		t.Fatal(err)
	}
	st.store.Swap(snap)
	r := do(t, st.addr, "POST", "/v1/integrations", map[string]string{"X-API-Key": adminKey, "X-Forwarded-For": "192.0.2.1, 10.1.2.3"}, "")
	if r.status != 200 {
		t.Fatalf("from 10.1.2.3 via a trusted proxy: got %d %s, want 200", r.status, r.body)
	}
	if got := st.sink.last(t).SourceIP.String(); got != "10.1.2.3" {
		t.Errorf("audit source = %s, want 10.1.2.3", got)
	}
	r = do(t, st.addr, "PUT", "/v1/admin/settings", map[string]string{"X-API-Key": adminKey, "X-Forwarded-For": "192.0.2.1"}, "")
	if r.status != 403 {
		t.Fatalf("from 192.0.2.1 via a trusted proxy: got %d, want 403", r.status)
	}
}

// Every path trick must either be refused or reach the upstream as the one
// normalised path the route check saw.
func TestPathNormalisation(t *testing.T) {
	st := startStack(t, nil)
	cases := []struct {
		method, target, key string
		status              int
		upstream            string // forwarded uri, "" when it must not be forwarded
	}{
		{"GET", "/v1/users/%2e%2e/admin/settings", adminKey, 404, ""},
		{"PUT", "/v1/users/%2e%2e/admin/settings", hrisKey, 403, ""},
		{"PUT", "/v1/users/../admin/settings", hrisKey, 403, ""},
		{"PUT", "/v1/admin/settings/.", adminKey, 404, ""},
		{"PUT", "/v1/admin%2fsettings", adminKey, 400, ""},
		{"PUT", "/v1/admin%2Fsettings", adminKey, 400, ""},
		{"PUT", "/v1/admin%5csettings", adminKey, 400, ""},
		{"PUT", "/v1/admin\\settings", adminKey, 400, ""},
		{"PUT", "/v1/admin/settings;x=1", adminKey, 400, ""},
		{"PUT", "/v1/admin/..;/admin/settings", adminKey, 400, ""},
		{"PUT", "/V1/ADMIN/SETTINGS", adminKey, 404, ""},
		{"PUT", "/v1/Admin/settings", adminKey, 404, ""},
		{"GET", "/v1/users/%00", hrisKey, 400, ""},
		{"GET", "/v1/users/%zz", hrisKey, 400, ""},
		{"GET", "//v1//users", hrisKey, 200, "/v1/users"},
		{"GET", "/./v1/./users", hrisKey, 200, "/v1/users"},
		{"GET", "/v1/x/../users", hrisKey, 200, "/v1/users"},
		{"GET", "/../../v1/users", hrisKey, 200, "/v1/users"},
		{"GET", "/v1/users/%41%62", hrisKey, 200, "/v1/users/Ab"},
		{"GET", "/v1/users/a%20b", hrisKey, 200, "/v1/users/a%20b"},
		{"GET", "/v1/users/a%3bb", hrisKey, 200, "/v1/users/a%3Bb"},
		{"GET", "http://svc/v1/users", hrisKey, 200, "/v1/users"},
		{"GET", "http://evil.example/v1/users", hrisKey, 400, ""}, // Host: svc
		{"GET", "/v1/users/", hrisKey, 404, ""},
	}
	for _, c := range cases {
		before := len(st.up.received())
		r := do(t, st.addr, c.method, c.target, key(c.key), "")
		if r.status != c.status {
			t.Errorf("%s %s: got %d %s, want %d", c.method, c.target, r.status, r.body, c.status)
			continue
		}
		got := st.up.received()[before:]
		switch {
		case c.upstream == "" && len(got) > 0:
			t.Errorf("%s %s reached the upstream as %q", c.method, c.target, got[0].uri)
		case c.upstream != "" && (len(got) != 1 || got[0].uri != c.upstream):
			t.Errorf("%s %s: upstream got %v, want %q", c.method, c.target, got, c.upstream)
		}
	}
}

// Smuggling shapes get 400 and never reach the upstream.
func TestSmugglingRefused(t *testing.T) {
	st := startStack(t, nil)
	head := "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n"
	cases := map[string]string{
		"CL and TE":       head + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"TE and CL":       head + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
		"repeated CL":     head + "Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
		"underscore name": head + "X_Portcullis_Tenant: globex\r\nContent-Length: 0\r\n\r\n",
		"two api keys":    head + "X-API-Key: " + adminKey + "\r\nContent-Length: 0\r\n\r\n",
	}
	for name, req := range cases {
		r := raw(t, st.addr, req)
		if r.status != 400 {
			t.Errorf("%s: got %d %s, want 400", name, r.status, r.body)
			continue
		}
		r.errorBody(t)
	}
	if n := len(st.up.received()); n != 0 {
		t.Errorf("upstream received %d smuggling attempts", n)
	}
}

func TestOversizedHeaders(t *testing.T) {
	st := startStack(t, func(c *Config) { c.MaxHeaderBytes = 4096 })
	r := do(t, st.addr, "GET", "/v1/users", map[string]string{"X-API-Key": hrisKey, "X-Big": strings.Repeat("a", 8000)}, "")
	if r.status != 431 {
		t.Fatalf("got %d, want 431", r.status)
	}
	if e := r.errorBody(t); e.Error != "header_too_large" {
		t.Errorf("error = %q", e.Error)
	}
}

func TestBodyLimits(t *testing.T) {
	st := startStack(t, nil)
	big := strings.Repeat("x", 65*1024)
	if r := do(t, st.addr, "POST", "/v1/exports", key(adminKey), big); r.status != 413 {
		t.Errorf("65 KiB to a 64 KiB class: got %d, want 413", r.status)
	}
	if r := do(t, st.addr, "POST", "/v1/records", key(hrisKey), big); r.status != 200 {
		t.Errorf("65 KiB to a 1 MiB class: got %d, want 200", r.status)
	}
	// A declared length above the limit is refused before any body byte is
	// sent: the server must answer without waiting for the body.
	req := "POST /v1/exports HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + adminKey + "\r\nContent-Length: 10000000\r\n\r\n"
	if r := raw(t, st.addr, req); r.status != 413 {
		t.Errorf("declared 10 MB with no body: got %d, want 413", r.status)
	}
	if rec := st.sink.last(t); rec.Decision != audit.BodyTooLarge || rec.Route != "/v1/exports" || rec.Status != 413 {
		t.Errorf("audit record of the refused body: %+v", rec)
	}
	chunked := "POST /v1/exports HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + adminKey + "\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strconv.FormatInt(int64(len(big)), 16) + "\r\n" + big + "\r\n0\r\n\r\n"
	if r := raw(t, st.addr, chunked); r.status != 413 {
		t.Errorf("chunked 65 KiB to a 64 KiB class: got %d, want 413", r.status)
	}
	for _, u := range st.up.received() {
		if strings.HasPrefix(u.uri, "/v1/exports") {
			t.Errorf("an oversized export reached the upstream")
		}
	}
}

func TestRateLimitHeaders(t *testing.T) {
	st := startStack(t, nil)
	var last reply
	admitted := 0
	for i := 0; i < 30; i++ {
		last = do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
		if last.status == 200 {
			admitted++
		}
		if last.status == 429 {
			break
		}
	}
	if last.status != 429 {
		t.Fatalf("no 429 after 30 requests at a 5/s burst 10 limit")
	}
	if admitted < 10 || admitted > 11 {
		t.Errorf("admitted %d before the first 429, want the burst of 10 (11 if a token refilled)", admitted)
	}
	if e := last.errorBody(t); e.Error != "rate_limited" {
		t.Errorf("error = %q", e.Error)
	}
	if ra, err := strconv.Atoi(last.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After = %q", last.header.Get("Retry-After"))
	}
	if got := last.header.Get("RateLimit-Policy"); got != `"client";q=10;w=2` {
		t.Errorf("RateLimit-Policy = %q", got)
	}
	if got := last.header.Get("RateLimit"); !strings.HasPrefix(got, `"client";r=0;t=`) {
		t.Errorf("RateLimit = %q", got)
	}
	// Another tenant's client is not affected.
	if r := do(t, st.addr, "GET", "/v1/reports/1", key(globexKey), ""); r.status != 200 {
		t.Errorf("other tenant: got %d, want 200", r.status)
	}
}

func TestUpstreamFailures(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	st := startStack(t, func(c *Config) { c.Upstream = deadAddr })
	r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
	if r.status != 502 || r.errorBody(t).Error != "upstream_error" {
		t.Errorf("upstream down: got %d %s, want 502 upstream_error", r.status, r.body)
	}
	slow := startStack(t, func(c *Config) { c.UpstreamTimeout = 100 * time.Millisecond })
	slow.up.delay = time.Second
	r = do(t, slow.addr, "GET", "/v1/users", key(hrisKey), "")
	if r.status != 504 || r.errorBody(t).Error != "upstream_timeout" {
		t.Errorf("upstream slow: got %d %s, want 504 upstream_timeout", r.status, r.body)
	}
}

func TestPanicAnswers500AndKeepsServing(t *testing.T) {
	st := startStack(t, func(c *Config) {
		c.UpstreamDial = func(addr string) (net.Conn, error) { panic("dial exploded") }
	})
	r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
	if r.status != 500 || r.errorBody(t).Error != "internal_error" {
		t.Fatalf("got %d %s, want 500 internal_error", r.status, r.body)
	}
	if r := do(t, st.addr, "GET", "/v1/status", nil, ""); r.status != 500 {
		t.Fatalf("second request: got %d, want the server still answering", r.status)
	}
	if got := st.sink.last(t).Decision; got != audit.InternalError {
		t.Errorf("audit decision = %v", got)
	}
}

func TestNotReadyWithoutPolicy(t *testing.T) {
	up := startUpstream(t)
	srv, err := New(Config{Store: &policy.Store{}, Upstream: up.addr})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	if r := do(t, ln.Addr().String(), "GET", "/v1/status", nil, ""); r.status != 503 {
		t.Errorf("no policy: got %d, want 503", r.status)
	}
	admin := &Admin{Server: srv}
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/readyz")
	admin.Handler(&ctx)
	if ctx.Response.StatusCode() != 503 {
		t.Errorf("readyz without policy = %d, want 503", ctx.Response.StatusCode())
	}
}

func TestMetrics(t *testing.T) {
	st := startStack(t, nil)
	do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
	do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
	do(t, st.addr, "GET", "/nope", nil, "")
	admin := &Admin{Server: st.srv}
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/metrics")
	admin.Handler(&ctx)
	body := string(ctx.Response.Body())
	for _, want := range []string{
		`portcullis_requests_total{class="standard",decision="allowed"} 2`,
		`portcullis_requests_total{class="none",decision="no_route"} 1`,
		`portcullis_request_duration_seconds_count 3`,
		`portcullis_request_duration_seconds_bucket{le="+Inf"} 3`,
		`portcullis_key_cache_hits_total 1`,
		`portcullis_limiter_denials_total{scope="tenant"} 0`,
		`portcullis_key_cache_misses_total 1`,
		`portcullis_policy_revision 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// Nothing secret reaches an audit record: send canaries in every place a
// secret could travel and look for them in the records.
func TestAuditHoldsNoSecrets(t *testing.T) {
	st := startStack(t, nil)
	canary := "CANARYsecret0123456789abcdefghijklmnop"
	do(t, st.addr, "GET", "/v1/users?token="+canary, map[string]string{"X-API-Key": hrisKey, "Cookie": "session=" + canary}, "")
	do(t, st.addr, "POST", "/v1/records?k="+canary, map[string]string{"Authorization": "Bearer pk_acmehris1_" + canary}, canary)
	do(t, st.addr, "GET", "/v1/users", map[string]string{"X-API-Key": "pk_canaryid1_" + canary}, "")
	for _, r := range st.sink.recs {
		line := string(r.AppendJSON(nil))
		if strings.Contains(line, canary) || strings.Contains(line, "DemoAcmeHris") {
			t.Errorf("audit record leaks a secret: %s", line)
		}
	}
	if len(st.sink.recs) != 3 {
		t.Errorf("got %d records, want 3", len(st.sink.recs))
	}
}

func TestShutdownDrainsInFlight(t *testing.T) {
	st := startStack(t, nil)
	st.up.delay = 300 * time.Millisecond
	done := make(chan reply, 1)
	go func() { done <- do(t, st.addr, "GET", "/v1/users", key(hrisKey), "") }()
	for deadline := time.Now().Add(30 * time.Second); st.up.arrived.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the request never reached the upstream")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := st.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.status != 200 {
		t.Errorf("in-flight request: got %d, want 200", r.status)
	}
	if st.srv.Ready() {
		t.Error("ready after shutdown")
	}
}

func TestHTTPClientEndToEnd(t *testing.T) {
	st := startStack(t, nil)
	req, _ := http.NewRequest("GET", "http://"+st.addr+"/v1/users/7", nil)
	req.Header.Set("Authorization", "Bearer "+hrisKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-ID") == "" {
		t.Errorf("got %d with request id %q", resp.StatusCode, resp.Header.Get("X-Request-ID"))
	}
}

// refusingSink is an audit sink that can capture nothing (spool full).
type refusingSink struct{ memSink }

func (*refusingSink) Accepting() bool { return false }

// Strict audit mode: a request whose record cannot be captured gets 503;
// best effort serves it.
func TestStrictAuditMode(t *testing.T) {
	sink := &refusingSink{}
	st := startStack(t, func(c *Config) { c.Audit = sink })
	if r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("best effort: got %d, want 200", r.status)
	}
	doc := *loadExample(t).Doc
	doc.Audit.Mode = "strict"
	snap, err := policy.Compile(&doc, policy.Live{Revision: 9})
	if err != nil {
		t.Fatal(err)
	}
	st.store.Swap(snap)
	for _, target := range []string{"/v1/users", "/v1/status"} {
		r := do(t, st.addr, "GET", target, key(hrisKey), "")
		if r.status != 503 || r.errorBody(t).Error != "audit_unavailable" {
			t.Errorf("strict %s: got %d %s, want 503 audit_unavailable", target, r.status, r.body)
		}
	}
	if n := len(st.up.received()); n != 1 {
		t.Errorf("upstream received %d requests, want only the best-effort one", n)
	}
}

// Requests on one keep-alive connection take turns on the connection's
// exchange: nothing of one request (identity, key, request id, route)
// carries into the next, whether it is allowed or denied.
func TestKeepAliveRequestsShareNothing(t *testing.T) {
	st := startStack(t, nil)
	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	send := func(target, hdrs string) *http.Response {
		t.Helper()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: svc\r\n"+hdrs+"\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	steps := []struct {
		target, hdrs string
		status       int
		client, key  string
	}{
		{"/v1/users/1", "X-API-Key: " + hrisKey + "\r\nX-Request-ID: first\r\n", 200, "acme-hris", "acmehris1"},
		{"/v1/users/2", "", 401, "", ""},
		{"/v1/reports/3", "X-API-Key: " + globexKey + "\r\n", 200, "globex-bi", "globexbi1"},
		{"/v1/users/4", "X-API-Key: " + globexKey + "\r\n", 403, "globex-bi", "globexbi1"},
		{"/nope", "", 404, "", ""},
	}
	for i, s := range steps {
		resp := send(s.target, s.hdrs)
		rec := st.sink.last(t)
		if resp.StatusCode != s.status || rec.Client != s.client || string(rec.KeyID()) != s.key {
			t.Errorf("request %d: got %d, audit client %q key %q; want %d, %q, %q", i, resp.StatusCode, rec.Client, rec.KeyID(), s.status, s.client, s.key)
		}
		if id := resp.Header.Get("X-Request-ID"); i > 0 && (id == "first" || string(rec.RequestID()) != id) {
			t.Errorf("request %d: request id %q, audit %q: the first request's id carried over", i, id, rec.RequestID())
		}
	}
	got := st.up.received()
	if len(got) != 2 || got[1].headers["x-portcullis-client"] != "globex-bi" || got[1].headers["x-request-id"] == "first" {
		t.Errorf("upstream got %d requests, last %v", len(got), got[len(got)-1].headers)
	}
}
