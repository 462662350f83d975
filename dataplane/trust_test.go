package dataplane

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
)

// The tests of this file send the hostile bytes of issue 12 over loopback
// TCP to a real sidecar in front of a recorder: a real upstream socket that
// reads each request with net/http's parser, which keeps every header line
// and trailer apart, and records what it got.

// recorded is one request as the upstream received it.
type recorded struct {
	method, uri, host string
	header, trailer   http.Header
	body              []byte
	from              string // the sidecar's address on the upstream connection it came on
}

// values returns every value of the header lines whose name, in any case
// and with '_' for '-', is name (lower case, with '-').
func (r recorded) values(name string) []string {
	var vs []string
	for k, v := range r.header {
		if strings.ReplaceAll(strings.ToLower(k), "_", "-") == name {
			vs = append(vs, v...)
		}
	}
	return vs
}

// internal lists the header names starting with X-Portcullis-, in any
// spelling, that the upstream got.
func (r recorded) internal() []string {
	var names []string
	for k := range r.header {
		if strings.HasPrefix(strings.ReplaceAll(strings.ToLower(k), "_", "-"), "x-portcullis-") {
			names = append(names, k)
		}
	}
	return names
}

// recorder is an upstream on loopback that records every request and
// answers 200 "upstream ok", or what respond writes.
type recorder struct {
	addr    string
	respond func(w io.Writer, r *http.Request) // nil: 200 "upstream ok"
	mu      sync.Mutex                         // guards reqs
	reqs    []recorded
}

func startRecorder(t testing.TB) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &recorder{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go u.serve(c)
		}
	}()
	return u
}

func (u *recorder) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, recorded{req.Method, req.RequestURI, req.Host, req.Header, req.Trailer, body, c.RemoteAddr().String()})
		u.mu.Unlock()
		if u.respond != nil {
			u.respond(c, req)
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nupstream ok")
	}
}

func (u *recorder) received() []recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]recorded(nil), u.reqs...)
}

// only returns the one request the upstream received since it had n.
func (u *recorder) only(t testing.TB, n int) recorded {
	t.Helper()
	got := u.received()
	if len(got) != n+1 {
		t.Fatalf("upstream received %d requests, want 1", len(got)-n)
	}
	return got[n]
}

// startRecorded is a sidecar with the example policy in front of a recorder.
func startRecorded(t testing.TB, mutate func(*Config)) (*stack, *recorder) {
	t.Helper()
	rec := startRecorder(t)
	st := startStack(t, func(c *Config) {
		c.Upstream = rec.addr
		if mutate != nil {
			mutate(c)
		}
	})
	return st, rec
}

// chunked is a request with a chunked body of one chunk and the trailer
// fields given.
func chunked(method, target, headers, trailers string) string {
	return method + " " + target + " HTTP/1.1\r\nHost: svc\r\n" + headers +
		"Transfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n" + trailers + "\r\n"
}

// Issue 12 item 1: trailer fields never reach the upstream, and neither does
// any X-Portcullis-* field the client sent, in any spelling; the identity
// headers are this request's own, each once, or absent.
func TestTrailersNeverForwarded(t *testing.T) {
	st, up := startRecorded(t, nil)
	// A GET's content is refused unless its route takes it (getbody_test.go).
	swapDoc(t, st.store, func(d *policy.Document) {
		d.Routes = append([]policy.RouteSpec(nil), d.Routes...)
		for i := range d.Routes {
			d.Routes[i].AllowBody = d.Routes[i].Method == "GET"
		}
	})
	forged := "X-Portcullis-Tenant: globex\r\nX-Portcullis-Client: globex-bi\r\nX-Portcullis-Scopes: admin:settings\r\n" +
		"x-portcullis-key-id: forged\r\nX_Portcullis_Auth_Method: api_key\r\nX-Trailer-Only: 1\r\nX-Keep: trailer\r\n" +
		"User-Agent: forged\r\n"
	cases := []struct {
		name, target, headers string
		identity              map[string]string // "" means absent
	}{
		{"public route", "/v1/status", "", map[string]string{
			"x-portcullis-tenant": "", "x-portcullis-client": "", "x-portcullis-scopes": "", "x-portcullis-key-id": "",
		}},
		{"api key", "/v1/users", "X-API-Key: " + hrisKey + "\r\n", map[string]string{
			"x-portcullis-tenant": "acme", "x-portcullis-client": "acme-hris", "x-portcullis-key-id": "acmehris1",
			"x-portcullis-scopes": "read:users write:records", "x-portcullis-auth-method": "api_key",
		}},
		{"jwt", "/v1/users", "Authorization: Bearer " + mint(t, demoClaims("acme-hris", "acme", "read:users")) + "\r\n", map[string]string{
			"x-portcullis-tenant": "acme", "x-portcullis-client": "acme-hris", "x-portcullis-key-id": "",
			"x-portcullis-scopes": "read:users", "x-portcullis-auth-method": "jwt",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := len(up.received())
			r := raw(t, st.addr, chunked("GET", c.target, c.headers+"X-Keep: header\r\nUser-Agent: client/1\r\n"+
				"Trailer: X-Portcullis-Tenant, X-Keep\r\nConnection: close\r\n", forged))
			if r.status != 200 {
				t.Fatalf("got %d %s, want 200", r.status, r.body)
			}
			got := up.only(t, n)
			for name, want := range c.identity {
				vs := got.values(name)
				switch {
				case want == "" && len(vs) > 0:
					t.Errorf("upstream %s = %q, want absent", name, vs)
				case want != "" && (len(vs) != 1 || vs[0] != want):
					t.Errorf("upstream %s = %q, want exactly [%q]", name, vs, want)
				}
			}
			for _, k := range got.internal() {
				if _, ok := c.identity[strings.ToLower(k)]; !ok && strings.ToLower(k) != "x-portcullis-auth-method" {
					t.Errorf("upstream received %s %q: a forged internal header", k, got.header[k])
				}
			}
			if vs := got.values("x-trailer-only"); len(vs) > 0 {
				t.Errorf("a trailer field reached the upstream as a header: %q", vs)
			}
			if vs := got.values("x-keep"); len(vs) != 1 || vs[0] != "header" {
				t.Errorf("upstream X-Keep = %q, want the header's value only", vs)
			}
			if vs := got.values("user-agent"); len(vs) != 1 || vs[0] != "client/1" {
				t.Errorf("upstream User-Agent = %q, want the header's value only", vs)
			}
			if vs := got.values("trailer"); len(vs) > 0 {
				t.Errorf("upstream Trailer = %q, want absent (hop-by-hop)", vs)
			}
			if len(got.trailer) > 0 || string(got.body) != "body" {
				t.Errorf("upstream trailer %v body %q, want none and %q", got.trailer, got.body, "body")
			}
		})
	}
}

// Issue 12 item 2: X-Forwarded-For lines combine in order, the right-most
// untrusted address is the source, Forwarded is read the same way, and the
// upstream gets the X-Forwarded-For the sidecar computed and none of the
// headers that could make it see another client, method or path.
func TestForwardedForCombinesLines(t *testing.T) {
	st, up := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.0/8"} })
	head := "POST /v1/integrations HTTP/1.1\r\nHost: svc\r\nContent-Length: 0\r\nX-API-Key: " + adminKey + "\r\n"
	cases := []struct {
		name, headers string
		status        int
		source        string // audit source_ip and upstream X-Forwarded-For
	}{
		{"forged line before the proxy's", "X-Forwarded-For: 10.0.0.5\r\nX-Forwarded-For: 203.0.113.9\r\n", 403, "203.0.113.9"},
		{"forged entry in one line", "X-Forwarded-For: 10.0.0.5, 203.0.113.9\r\n", 403, "203.0.113.9"},
		{"lines in order", "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 10.1.2.3, 127.0.0.1\r\n", 200, "10.1.2.3"},
		{"forwarded, forged element first", "Forwarded: for=10.0.0.5\r\nForwarded: for=\"203.0.113.9:4711\";proto=https\r\n", 403, "203.0.113.9"},
		{"forwarded", "Forwarded: for=203.0.113.9, For=\"10.1.2.3\";by=127.0.0.1\r\n", 200, "10.1.2.3"},
		{"forwarded ipv6", "Forwarded: for=\"[2001:db8::1]:80\"\r\n", 403, "2001:db8::1"},
		{"forwarded unknown", "Forwarded: for=10.0.0.5, for=unknown\r\n", 403, ""},
		{"both headers", "X-Forwarded-For: 10.1.2.3\r\nForwarded: for=10.1.2.3\r\n", 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := len(up.received())
			r := raw(t, st.addr, head+c.headers+"\r\n")
			if r.status != c.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, c.status)
			}
			rec := st.sink.last(t)
			if got := rec.SourceIP; c.source != "" && got.String() != c.source || c.source == "" && got.IsValid() {
				t.Errorf("audit source_ip = %v, want %q", got, c.source)
			}
			if c.status != 200 {
				return
			}
			got := up.only(t, n)
			if vs := got.values("x-forwarded-for"); len(vs) != 1 || vs[0] != c.source {
				t.Errorf("upstream X-Forwarded-For = %q, want [%q]", vs, c.source)
			}
			if vs := got.values("forwarded"); len(vs) > 0 {
				t.Errorf("upstream Forwarded = %q, want absent", vs)
			}
		})
	}
}

// The headers a client could use to change what the upstream thinks the
// method, path or client address is are dropped, from any peer; an
// untrusted peer's X-Forwarded-For is replaced by its own address.
func TestOverrideHeadersDropped(t *testing.T) {
	st, up := startRecorded(t, nil)
	drop := []string{
		"x-real-ip", "forwarded", "x-original-url", "x-rewrite-url", "x-http-method-override",
		"x-method-override", "x-http-method", "x-forwarded-host", "x-forwarded-proto",
		"true-client-ip", "x-client-ip", "client-ip", "cf-connecting-ip", "fastly-client-ip", "x-cluster-client-ip",
		"x-original-uri", "x-original-method", "x-original-host", "x-host", "x-envoy-original-path",
		"x-script-name", // the Flask/WSGI proxy fix cuts it from the path: /v1/users/admin would route as /admin
	}
	h := key(hrisKey)
	for _, name := range drop {
		h[name] = "10.0.0.5"
	}
	h["X-Forwarded-For"] = "10.0.0.5"
	if r := do(t, st.addr, "GET", "/v1/users", h, ""); r.status != 200 {
		t.Fatalf("got %d %s, want 200", r.status, r.body)
	}
	got := up.only(t, 0)
	for _, name := range drop {
		if vs := got.values(name); len(vs) > 0 {
			t.Errorf("upstream %s = %q, want absent", name, vs)
		}
	}
	if vs := got.values("x-forwarded-for"); len(vs) != 1 || vs[0] != "127.0.0.1" {
		t.Errorf("upstream X-Forwarded-For = %q, want the peer [127.0.0.1]", vs)
	}
}

// Issue 12 item 3: two credentials are refused; no credential header
// reaches the upstream (unless forward_token, see TestJWTForwardTokenOptIn);
// userinfo in Host or in an absolute-form target is refused; the upstream
// gets the Host the policy names, else the client's plain host[:port].
func TestCredentialsNeverForwarded(t *testing.T) {
	st, up := startRecorded(t, nil)
	jwt := mint(t, demoClaims("acme-hris", "acme", "read:users"))
	none := strings.Join(strings.Split(jwt, ".")[:1], ".") + ".eyJjbGllbnRfaWQiOiJhY21lLWFkbWluIn0."
	refused := map[string]string{
		"jwt in X-API-Key, forged bearer": "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + jwt + "\r\nAuthorization: Bearer " + none + "\r\n\r\n",
		"api key and basic":               "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nAuthorization: Basic YTpi\r\n\r\n",
		"userinfo in Host":                "GET /v1/status HTTP/1.1\r\nHost: admin:s3cr3t@x\r\n\r\n",
		"userinfo in target":              "GET http://admin:s3cr3t@internal.example/v1/status HTTP/1.1\r\nHost: x\r\n\r\n",
		"Host with '_'":                   "GET /v1/status HTTP/1.1\r\nHost: svc_1\r\n\r\n",
		"target naming another host":      "GET http://other.example/v1/status HTTP/1.1\r\nHost: svc\r\n\r\n",
	}
	for name, req := range refused {
		r := raw(t, st.addr, req)
		if r.status != 400 || r.errorBody(t).Error != "bad_request" {
			t.Errorf("%s: got %d %s, want 400 bad_request", name, r.status, r.body)
		}
	}
	if n := len(up.received()); n != 0 {
		t.Fatalf("upstream received %d refused requests", n)
	}
	forwarded := []map[string]string{
		{"Authorization": "Basic YWRtaW46czNjcjN0"},
		{"X-API-Key": hrisKey},
		{"Authorization": "Bearer " + jwt},
	}
	for i, h := range forwarded {
		if r := do(t, st.addr, "GET", "/v1/status", h, ""); r.status != 200 {
			t.Fatalf("public route with %v: got %d", h, r.status)
		}
		got := up.only(t, i)
		if a, k := got.values("authorization"), got.values("x-api-key"); len(a)+len(k) > 0 {
			t.Errorf("public route: upstream got Authorization %q X-API-Key %q", a, k)
		}
		if got.host != "svc" {
			t.Errorf("upstream Host = %q, want the client's svc", got.host)
		}
	}
	swapDoc(t, st.store, func(d *policy.Document) { d.UpstreamHost = "hr.internal:8080" })
	if r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("got %d", r.status)
	}
	if got := up.only(t, len(forwarded)); got.host != "hr.internal:8080" || len(got.values("x-api-key")) > 0 {
		t.Errorf("upstream Host %q X-API-Key %q, want the policy's upstream_host and no key", got.host, got.values("x-api-key"))
	}
}

// Issue 12 item 4: a Transfer-Encoding other than chunked is refused, and
// the body is never read as a second request.
func TestTransferEncodingOnlyChunked(t *testing.T) {
	st, up := startRecorded(t, nil)
	smuggled := "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n"
	for _, te := range []string{"identity", "gzip, chunked", "chunked, identity", "x"} {
		c, err := net.Dial("tcp", st.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: "+hrisKey+"\r\nTransfer-Encoding: "+te+"\r\n\r\n"+smuggled)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", te, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("Transfer-Encoding %s: got %d, want 400", te, resp.StatusCode)
		}
		if resp, err := http.ReadResponse(br, nil); err == nil {
			t.Errorf("Transfer-Encoding %s: the body was answered as a second request (%d)", te, resp.StatusCode)
		}
		c.Close()
	}
	if n := len(up.received()); n != 0 {
		t.Errorf("upstream received %d requests, want none", n)
	}
}

// Issue 12 item 5: a multipart body reaches the upstream byte for byte: the
// client signs it, the upstream checks the signature over what it got.
func TestMultipartBodyByteForByte(t *testing.T) {
	st, up := startRecorded(t, nil)
	reordered := "This is a preamble; RFC 2046 says to ignore it.\r\n" +
		"--b0undary\r\nContent-Disposition: form-data; name=\"z\"\r\nX-Part-Note: keep me\r\n\r\nlast\r\n" +
		"--b0undary\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\nid,name\r\n1,x\r\n" +
		"--b0undary\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\nrepeated\r\n" +
		"--b0undary--\r\nepilogue\r\n"
	// Legal, but more parts than Go's form parser takes (1000): fasthttp
	// used to answer 400 before authentication.
	var many strings.Builder
	for i := range 1001 {
		many.WriteString("--b0undary\r\nContent-Disposition: form-data; name=\"f" + strconv.Itoa(i) + "\"\r\n\r\nv\r\n")
	}
	many.WriteString("--b0undary--\r\n")
	secret := []byte("test-only hmac key")
	sign := func(b []byte) string {
		m := hmac.New(sha256.New, secret)
		m.Write(b)
		return hex.EncodeToString(m.Sum(nil))
	}
	up.respond = func(w io.Writer, r *http.Request) {
		got := up.received()
		status := "200 OK"
		if !hmac.Equal([]byte(sign(got[len(got)-1].body)), []byte(r.Header.Get("X-Body-Hmac"))) {
			status = "422 Unprocessable Entity"
		}
		io.WriteString(w, "HTTP/1.1 "+status+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	}
	for i, body := range []string{reordered, many.String()} {
		r := do(t, st.addr, "POST", "/v1/records", map[string]string{
			"X-API-Key": hrisKey, "Content-Type": "multipart/form-data; boundary=b0undary", "X-Body-HMAC": sign([]byte(body)),
		}, body)
		got := up.received()
		if r.status != 200 {
			if len(got) > i {
				t.Fatalf("body %d: got %d: the upstream's HMAC check failed; it received %d bytes of %d:\n%q", i, r.status, len(got[i].body), len(body), got[i].body)
			}
			t.Fatalf("body %d: got %d %s, want 200", i, r.status, r.body)
		}
		if !bytes.Equal(up.only(t, i).body, []byte(body)) {
			t.Errorf("body %d: upstream body differs", i)
		}
	}
}

// Issue 12 item 6: a client's limit is one bucket across all of its
// credentials: an API key and a token of the same client share its burst.
func TestClientLimitAcrossCredentials(t *testing.T) {
	st, _ := startRecorded(t, nil)
	tok := bearer(mint(t, demoClaims("acme-hris", "acme", "read:users")))
	admitted := 0
	var last reply
	for i := range 30 { // acme-hris: 5/s, burst 10
		h := key(hrisKey)
		if i%2 == 1 {
			h = tok
		}
		if last = do(t, st.addr, "GET", "/v1/users", h, ""); last.status == 200 {
			admitted++
		} else if last.status == 429 {
			break
		}
	}
	if admitted < 10 || admitted > 11 {
		t.Errorf("admitted %d before the first 429 across key and token, want the client's burst of 10", admitted)
	}
	if got := last.header.Get("RateLimit-Policy"); got != `"client";q=10;w=2` {
		t.Errorf("RateLimit-Policy = %q, want the client's bucket", got)
	}
}

// Issue 12 item 7: an issuer speaks only for the tenants it names, whether
// or not the token carries a tenant claim.
func TestIssuerBoundToTenants(t *testing.T) {
	st, _ := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.Issuers[0].Tenants = []string{"acme"} })
	claims := func(client, tenant, scope string) map[string]string {
		c := demoClaims(client, tenant, scope)
		if tenant == "" {
			delete(c, "tenant")
		}
		return bearer(mint(t, c))
	}
	cases := []struct {
		name, target string
		headers      map[string]string
		status       int
	}{
		{"other tenant's client, no tenant claim", "/v1/reports/1", claims("globex-bi", "", "read:reports"), 401},
		{"other tenant's client, its tenant claim", "/v1/reports/1", claims("globex-bi", "globex", "read:reports"), 401},
		{"own tenant's client, no tenant claim", "/v1/users", claims("acme-hris", "", "read:users"), 200},
		{"api key of the other tenant", "/v1/reports/1", key(globexKey), 200},
	}
	for _, c := range cases {
		if r := do(t, st.addr, "GET", c.target, c.headers, ""); r.status != c.status {
			t.Errorf("%s: got %d %s, want %d", c.name, r.status, r.body, c.status)
		}
	}
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Issue 12 item 11: at debug level, neither a request fasthttp cannot parse
// nor an upstream response it cannot parse puts their bytes in the log.
func TestLogsHoldNoRawBytes(t *testing.T) {
	logs := &syncBuffer{}
	st, up := startRecorded(t, func(c *Config) { c.Logger = zerolog.New(logs).Level(zerolog.DebugLevel) })
	const canary = "CanaryLog5e3f9a"
	up.respond = func(w io.Writer, r *http.Request) {
		switch r.URL.Path {
		case "/v1/users":
			io.WriteString(w, "HTTP/1.1 200 OK\r\nSet-Cookie: s="+canary+"\r\nContent-Length: x"+canary+"\r\n\r\n")
		case "/v1/users/1":
			io.WriteString(w, "HTTP/1.1 200 OK\r\nBroken "+canary+"\r\nContent-Length: 0\r\n\r\n")
		default:
			io.WriteString(w, "HTTP/1.1 2x0 "+canary+"\r\n\r\n")
		}
	}
	bad := []string{
		"GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-Api-Key: pk_acmehris1_" + canary + "\r\nBroken header line " + canary + "\r\n\r\n",
		"GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-Api-Key: pk_acmehris1_" + canary + "\r\nContent-Length: -1" + canary + "\r\n\r\n",
		"GET /v1/users\x01" + canary + " HTTP/1.1\r\nHost: svc\r\nX-Api-Key: " + canary + "\r\n\r\n",
	}
	for _, req := range bad {
		if r := raw(t, st.addr, req); r.status != 400 {
			t.Errorf("unparseable request: got %d, want 400", r.status)
		}
	}
	for _, target := range []string{"/v1/users", "/v1/users/1", "/v1/users/2"} {
		if r := do(t, st.addr, "GET", target, key(hrisKey), ""); r.status != 502 {
			t.Errorf("unparseable upstream response to %s: got %d, want 502", target, r.status)
		}
	}
	out := logs.String()
	if strings.Contains(out, canary) || strings.Contains(out, "DemoAcmeHris") {
		t.Errorf("log holds request or response bytes:\n%s", out)
	}
	if !strings.Contains(out, "upstream request failed") {
		t.Errorf("the upstream failure was not logged at all:\n%s", out)
	}
}

// Issue 12 item 12: the audit path is the normalised path or "-", never the
// raw target.
func TestAuditPathIsNormalisedOrDash(t *testing.T) {
	st, _ := startRecorded(t, nil)
	cases := []struct{ target, path string }{
		{"http://admin:s3cr3t@internal.example/v1/users", "-"},
		{"/v1/admin%2fs3cr3t", "-"},
		{"/v1/users/%zzs3cr3t", "-"},
		{"http://SVC/v1//users?token=s3cr3t", "/v1/users"},
		{"http://internal.example/v1/users", "-"}, // Host: svc disagrees: 400 before normalising
	}
	for _, c := range cases {
		do(t, st.addr, "GET", c.target, key(hrisKey), "")
		rec := st.sink.last(t)
		if got := string(rec.Path()); got != c.path {
			t.Errorf("%s: audit path %q, want %q", c.target, got, c.path)
		}
		if line := string(rec.AppendJSON(nil)); strings.Contains(line, "s3cr3t") {
			t.Errorf("%s: audit record holds the target's secret: %s", c.target, line)
		}
	}
}

// A request with more X-Forwarded-For lines than the sidecar reads is
// refused rather than read in part.
func TestTooManyForwardedLines(t *testing.T) {
	st, _ := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.0/8"} })
	var b strings.Builder
	for i := range maxForwardLines + 1 {
		b.WriteString("X-Forwarded-For: 203.0.113." + strconv.Itoa(i) + "\r\n")
	}
	r := raw(t, st.addr, "GET /v1/status HTTP/1.1\r\nHost: svc\r\n"+b.String()+"\r\n")
	if r.status != 400 {
		t.Errorf("got %d, want 400", r.status)
	}
	if rec := st.sink.last(t); rec.Decision != audit.BadRequest {
		t.Errorf("audit decision %v", rec.Decision)
	}
}
