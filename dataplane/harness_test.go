package dataplane

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
)

// Demo keys of examples/policy.yaml (demo-only secrets, published in the README).
const (
	hrisKey    = "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"
	adminKey   = "pk_acmeadm1_DemoAcmeAdminSecret00000000000000001"
	globexKey  = "pk_globexbi1_DemoGlobexBiSecret0000000000000001"
	revokedKey = "pk_revoked1_DemoRevokedSecret00000000000000000001"
)

// seen is what the real upstream received.
type seen struct {
	uri     string
	headers map[string]string
	body    int
	conn    uint64 // the upstream connection it came on (fasthttp's ConnID)
}

// upstreamServer is a real fasthttp server on loopback that records requests.
type upstreamServer struct {
	addr  string
	mu    sync.Mutex // guards reqs
	reqs  []seen
	delay time.Duration

	arrived atomic.Int64 // requests that reached handle, counted before delay
}

func startUpstream(t testing.TB) *upstreamServer {
	t.Helper()
	u := &upstreamServer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	srv := &fasthttp.Server{Handler: u.handle}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return u
}

func (u *upstreamServer) handle(ctx *fasthttp.RequestCtx) {
	u.arrived.Add(1)
	if u.delay > 0 {
		time.Sleep(u.delay)
	}
	s := seen{uri: string(ctx.Request.Header.RequestURI()), headers: map[string]string{}, body: len(ctx.Request.Body()), conn: ctx.ConnID()}
	for k, v := range ctx.Request.Header.All() {
		s.headers[strings.ToLower(string(k))] = string(v)
	}
	u.mu.Lock()
	u.reqs = append(u.reqs, s)
	u.mu.Unlock()
	ctx.SetContentType("text/plain")
	ctx.SetBodyString("upstream ok")
}

func (u *upstreamServer) received() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.reqs...)
}

// memSink collects audit records.
type memSink struct {
	mu   sync.Mutex // guards recs
	recs []audit.Record
}

// Swap keeps a copy, so r stays the caller's.
func (m *memSink) Swap(r *audit.Record) (*audit.Record, bool) {
	m.mu.Lock()
	m.recs = append(m.recs, *r)
	m.mu.Unlock()
	return r, true
}

func (m *memSink) Accepting() bool { return true }

func (m *memSink) last(t testing.TB) audit.Record {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.recs) == 0 {
		t.Fatal("no audit record")
	}
	return m.recs[len(m.recs)-1]
}

// withRequestID returns the audit record of the request id, waiting for
// it: the record a test checks, where other connections' records (a
// refused handshake's bad_request) may come after it.
func (m *memSink) withRequestID(t testing.TB, id string) audit.Record {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m.mu.Lock()
		for i := len(m.recs) - 1; i >= 0; i-- {
			if string(m.recs[i].RequestID()) == id {
				r := m.recs[i]
				m.mu.Unlock()
				return r
			}
		}
		m.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no audit record of request %q", id)
		}
	}
}

// lastOf returns the last audit record of a request for path, skipping
// those of connections that made none (a refused TLS handshake is
// audited bad_request with no request line, and may be recorded after a
// request on another connection that began later).
func (m *memSink) lastOf(t testing.TB, path string) audit.Record {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.recs) - 1; i >= 0; i-- {
		if string(m.recs[i].Path()) == path {
			return m.recs[i]
		}
	}
	t.Fatalf("no audit record of a request for %s", path)
	return audit.Record{}
}

// waitLast returns the last audit record once there is one, which a
// streamed answer writes after the client has read it; what names the
// request for the failure.
func (m *memSink) waitLast(t testing.TB, what string) audit.Record {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m.mu.Lock()
		n := len(m.recs)
		m.mu.Unlock()
		if n > 0 {
			return m.last(t)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit record for %s", what)
		}
	}
}

// stack is a sidecar in front of a real upstream, both on loopback.
type stack struct {
	addr  string
	srv   *Server
	up    *upstreamServer
	store *policy.Store
	sink  *memSink
}

func loadExample(t testing.TB) *policy.Snapshot {
	t.Helper()
	doc, err := policy.LoadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := policy.Compile(doc, policy.Live{Revision: 1})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func startStack(t testing.TB, mutate func(*Config)) *stack {
	t.Helper()
	st := &stack{up: startUpstream(t), store: &policy.Store{}, sink: &memSink{}}
	st.store.Swap(loadExample(t))
	cfg := Config{Store: st.store, Upstream: st.up.addr, Audit: st.sink}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		srv.Close()
	})
	st.addr, st.srv = ln.Addr().String(), srv
	return st
}

// reply is a parsed response.
type reply struct {
	status int
	header http.Header
	body   string
}

// errorBody is the JSON error shape of every response the sidecar makes.
type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

func (r reply) errorBody(t testing.TB) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		t.Fatalf("body %q is not the JSON error shape: %v", r.body, err)
	}
	if e.Error == "" || e.Message == "" || e.RequestID == "" {
		t.Fatalf("body %q lacks error, message or request_id", r.body)
	}
	return e
}

// raw sends bytes exactly as given over a new connection and reads one response.
func raw(t testing.TB, addr, request string) reply {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", request, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// do sends method and target with the given headers and body.
func do(t testing.TB, addr, method, target string, headers map[string]string, body string) reply {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n", method, target)
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	return raw(t, addr, b.String())
}

func key(k string) map[string]string { return map[string]string{"X-API-Key": k} }

// demoSeed is the demo identity provider's Ed25519 seed; its public key is
// the inline JWKS of examples/policy.yaml (demo only).
const demoSeed = "tBQwRAqb0m-DX5PUmxir2ciMs_zBX9zK4bZiaZEyLHs"

// mint signs claims as the demo issuer.
func mint(t testing.TB, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return mintRaw(t, `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`, string(b))
}

// mintRaw signs the JOSE header and the claims, JSON as given (duplicate
// members, escapes), with the demo issuer's key.
func mintRaw(t testing.TB, header, claims string) string {
	t.Helper()
	seed, err := base64.RawURLEncoding.DecodeString(demoSeed)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc([]byte(header)) + "." + enc([]byte(claims))
	sig := ed25519.Sign(ed25519.NewKeyFromSeed(seed), []byte(signing))
	return signing + "." + enc(sig)
}

func demoClaims(client, tenant, scope string) map[string]any {
	now := time.Now().Unix()
	return map[string]any{
		"iss": "https://idp.demo.example", "aud": "portcullis-demo", "sub": "svc-" + client,
		"client_id": client, "tenant": tenant, "scope": scope, "jti": "jti-" + client,
		"iat": now, "nbf": now, "exp": now + 600,
	}
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// swapDoc compiles the example policy changed by mutate (its slices are
// copies) and makes it current.
func swapDoc(t testing.TB, store *policy.Store, mutate func(*policy.Document)) {
	t.Helper()
	doc := *loadExample(t).Doc
	doc.Issuers = append([]policy.IssuerSpec(nil), doc.Issuers...)
	doc.Classes = append([]policy.ClassSpec(nil), doc.Classes...)
	doc.Clients = append([]policy.ClientSpec(nil), doc.Clients...)
	mutate(&doc)
	snap, err := policy.Compile(&doc, policy.Live{Revision: store.Load().Revision + 1})
	if err != nil {
		t.Fatal(err)
	}
	store.Swap(snap)
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

// scrape returns the admin /metrics page of srv.
func scrape(t testing.TB, srv *Server) string {
	t.Helper()
	admin := &Admin{Server: srv}
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/metrics")
	admin.Handler(&ctx)
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("/metrics answered %d", ctx.Response.StatusCode())
	}
	return string(ctx.Response.Body())
}

// waitQueued waits until srv's /metrics page shows n requests waiting in
// its concurrency queues (portcullis_concurrency_queued), so that a test
// acts on requests known to be queued, not on ones that may still be on
// their way; it fails with the last value seen after 10 s.
func waitQueued(t testing.TB, srv *Server, n int) {
	t.Helper()
	want := "\nportcullis_concurrency_queued " + strconv.Itoa(n) + "\n"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		page := scrape(t, srv)
		if strings.Contains(page, want) {
			return
		}
		if time.Now().After(deadline) {
			_, v, _ := strings.Cut(page, "\nportcullis_concurrency_queued ")
			v, _, _ = strings.Cut(v, "\n")
			t.Fatalf("portcullis_concurrency_queued stayed %s for 10s, want %d", v, n)
		}
	}
}
