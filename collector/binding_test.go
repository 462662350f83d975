package collector

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/rs/zerolog"
)

const (
	acmeToken   = "acme-sidecar-token-0123456789abcdef0123"
	sharedToken = "shared-sidecar-token-0123456789abcdef01"
)

// boundCollector serves a real Collector on a store in dir over loopback:
// sender acme-sidecar bound to tenant acme, sender shared unbound.
func boundCollector(t *testing.T, dir string, logs io.Writer) *httptest.Server {
	t.Helper()
	file := "acme-sidecar " + acmeToken + " tenants=acme\nshared " + sharedToken + "\n"
	tokens, err := ParseTokenFile([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(logs)
	col, err := New(st, Config{Tokens: tokens, MaxBodyBytes: 1 << 20, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	t.Cleanup(func() { srv.Close(); st.Close() })
	return srv
}

func tenantRecord(i int, tenant string) audit.Record {
	r := sampleRecord(i)
	r.Tenant = tenant
	r.Time = time.Now().UnixNano()
	return r
}

// A sender bound to its tenants (tenants= in the token file) has a batch
// naming another tenant refused whole, 403 tenant_not_bound naming the
// sender and the tenant and never the token, counted and logged once a
// minute; nothing of it is stored. An unbound sender still reports any
// tenant, and a bound one records without a tenant.
func TestBoundSenderCannotReportAnotherTenant(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logs := &logLines{}
	srv := boundCollector(t, dir, logs)

	if got := post(t, srv.URL, acmeToken, encodeBatch("a-1", tenantRecord(1, "acme"), tenantRecord(2, "")), false); got != 200 {
		t.Fatalf("bound sender, its own tenant: status %d, want 200", got)
	}
	forged := encodeBatch("a-2", tenantRecord(3, "acme"), tenantRecord(4, "globex"))
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", strings.NewReader(string(forged)))
		req.Header.Set("Content-Type", FormatProtobuf)
		req.Header.Set("Authorization", "Bearer "+acmeToken)
		a := doRequest(t, req)
		if a.resp.StatusCode != http.StatusForbidden {
			t.Fatalf("try %d: bound sender naming tenant globex: status %d, want 403", i, a.resp.StatusCode)
		}
		var e struct{ Error, Message string }
		if err := json.Unmarshal(a.body, &e); err != nil || e.Error != "tenant_not_bound" ||
			!strings.Contains(e.Message, "token:acme-sidecar") || !strings.Contains(e.Message, `"globex"`) {
			t.Fatalf("refusal body %s (%v), want error tenant_not_bound naming token:acme-sidecar and \"globex\"", a.body, err)
		}
		if strings.Contains(string(a.body), acmeToken) {
			t.Fatalf("refusal body carries the token: %s", a.body)
		}
	}
	if got := post(t, srv.URL, sharedToken, encodeBatch("s-1", tenantRecord(5, "globex"), tenantRecord(6, "acme")), false); got != 200 {
		t.Fatalf("unbound sender: status %d, want 200", got)
	}

	byTenant := map[string]int{}
	for _, r := range storedRecords(t, dir) {
		byTenant[r.Sender+"/"+r.Tenant]++
	}
	want := map[string]int{"token:acme-sidecar/acme": 1, "token:acme-sidecar/": 1, "token:shared/globex": 1, "token:shared/acme": 1}
	if len(byTenant) != len(want) {
		t.Fatalf("stored %v, want %v", byTenant, want)
	}
	for k, n := range want {
		if byTenant[k] != n {
			t.Fatalf("stored %v, want %v", byTenant, want)
		}
	}
	if m := getMetricsWith(t, srv.URL, sharedToken); !strings.Contains(m, `portcullis_collector_rejects_total{reason="tenant_not_bound"} 3`) {
		t.Errorf("metrics do not count 3 tenant_not_bound refusals:\n%s", m)
	}
	l := logs.String()
	if n := strings.Count(l, "not bound"); n != 1 {
		t.Errorf("%d log lines of the refusal in a minute, want 1:\n%s", n, l)
	}
	if !strings.Contains(l, "token:acme-sidecar") || !strings.Contains(l, "globex") || strings.Contains(l, acmeToken) {
		t.Errorf("log line must name sender and tenant, never the token:\n%s", l)
	}
}

// getMetricsWith scrapes /metrics with token.
func getMetricsWith(t *testing.T, base, token string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return string(doRequest(t, req).body)
}

// A sidecar's emitter whose batch the collector refuses as not bound
// drops that batch, counts it Rejected and reports it (Health), rather
// than retrying it for ever at the head of its spool; the batches before
// and after it are delivered.
func TestEmitterDropsBatchRefusedNotBound(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := boundCollector(t, dir, io.Discard)
	cfg := fastConfig(srv.URL, t.TempDir())
	cfg.Token, cfg.BatchSize = acmeToken, 1
	e, err := audit.NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, tenant := range []string{"acme", "globex", "acme"} {
		r := tenantRecord(i, tenant)
		for !e.Emit(&r) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // one batch each, in order
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	s := e.Stats()
	if s.Delivered+s.Replayed != 2 || s.Rejected != 1 {
		t.Errorf("emitter stats %+v, want 2 delivered or replayed and 1 rejected", s)
	}
	if h := e.Health(); !strings.Contains(h.LastFailure, "tenant_not_bound") {
		t.Errorf("health %q does not report the refusal", h.LastFailure)
	}
	if n := len(storedRecords(t, dir)); n != 2 {
		t.Errorf("stored %d records, want 2", n)
	}
}

// A client certificate identity bound in Config.CertTenants is held to
// its tenants as a token is.
func TestBoundCertificateCannotReportAnotherTenant(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bindings, err := ParseCertTenants([]byte("# sidecars of one tenant\nsidecar-acme tenants=acme,acme-eu\n"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	col, err := New(st, Config{ClientCertAuth: true, CertTenants: bindings})
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srv := httptest.NewUnstartedServer(col)
	srv.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	defer srv.Close()
	send := func(cert string, tenant string) int {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{ca.client(t, cert)}
		body := encodeBatch(cert+tenant, tenantRecord(1, tenant))
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", FormatProtobuf)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		cert, tenant string
		want         int
	}{{"sidecar-acme", "acme-eu", 200}, {"sidecar-acme", "globex", 403}, {"sidecar-shared", "globex", 200}} {
		if got := send(c.cert, c.tenant); got != c.want {
			t.Errorf("certificate %s, tenant %s: status %d, want %d", c.cert, c.tenant, got, c.want)
		}
	}
}

// Bad binding lines are refused naming the line, never the token.
func TestTokenFileTenantsErrors(t *testing.T) {
	t.Parallel()
	for _, file := range []string{
		"a " + acmeToken + " tenant=acme\n",
		"a " + acmeToken + " tenants=\n",
		"a " + acmeToken + " tenants=acme,,b\n",
		"a " + acmeToken + " tenants=acme extra\n",
	} {
		_, err := ParseTokenFile([]byte(file))
		if err == nil || !strings.Contains(err.Error(), "line 1") || strings.Contains(err.Error(), acmeToken) {
			t.Errorf("%q: error %v, want one naming line 1 and not the token", file, err)
		}
	}
	if _, err := ParseCertTenants([]byte("id tenants=a\nid tenants=b\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("identity twice: error %v, want one naming line 2", err)
	}
}
