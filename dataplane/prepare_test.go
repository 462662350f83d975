package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// demoJWKS is the inline key set of examples/policy.yaml.
const demoJWKS = `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"demo-1","alg":"EdDSA","use":"sig","x":"lgXeSIRAyXwmOjbRiQGZ7YVoYx8XviIq9Kl4GWEV5x0"}]}`

// stallingJWKS is a JWKS host on a real loopback socket that accepts
// connections and reads requests but answers nothing until released.
type stallingJWKS struct {
	ln       net.Listener
	accepted chan struct{} // a value per connection
	release  chan struct{}
	open     atomic.Int64 // connections the client has not closed
	wg       sync.WaitGroup
}

func startStallingJWKS(t *testing.T) *stallingJWKS {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	j := &stallingJWKS{ln: ln, accepted: make(chan struct{}, 100), release: make(chan struct{})}
	j.wg.Go(j.serve)
	t.Cleanup(func() {
		ln.Close()
		j.unblock()
		j.wg.Wait()
	})
	return j
}

func (j *stallingJWKS) unblock() {
	select {
	case <-j.release:
	default:
		close(j.release)
	}
}

func (j *stallingJWKS) serve() {
	for {
		c, err := j.ln.Accept()
		if err != nil {
			return
		}
		j.open.Add(1)
		select {
		case j.accepted <- struct{}{}:
		default:
		}
		j.wg.Go(func() { j.handle(c) })
	}
}

// handle reads one request; until release it only watches for the client
// closing the connection, then it answers with the demo key set.
func (j *stallingJWKS) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	if _, err := http.ReadRequest(br); err != nil {
		j.open.Add(-1)
		return
	}
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, br) // returns when the client closes
		j.open.Add(-1)
		close(closed)
	}()
	select {
	case <-closed:
	case <-j.release:
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(demoJWKS), demoJWKS)
		<-closed
	}
}

// exampleWithJWKSURL compiles the example policy with the demo issuer's
// keys at url instead of inline.
func exampleWithJWKSURL(t *testing.T, url string, rev int64) *policy.Snapshot {
	t.Helper()
	b, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^    jwks: '.*'$`)
	if !re.Match(b) {
		t.Fatal("example policy has no inline jwks line to replace")
	}
	b = re.ReplaceAll(b, []byte("    jwks_url: "+url))
	doc, err := policy.Load("policy.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := policy.Compile(doc, policy.Live{Revision: rev})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// serveAdmin serves the admin handler of srv on loopback.
func serveAdmin(t *testing.T, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &fasthttp.Server{Handler: (&Admin{Server: srv}).Handler}
	go a.Serve(ln)
	t.Cleanup(func() { a.Shutdown() })
	return ln.Addr().String()
}

// await waits for ch, failing the test after a generous deadline.
func await(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestJWKSHostNeverAnswers is issue 13 item 3: a policy adding a jwks_url
// issuer whose host accepts and never answers does not delay public or
// API-key routes, neither while the writer prepares the new snapshot nor
// after it is in force; that issuer's tokens get 401 (and /readyz says why)
// until its first fetch completes, then they verify.
func TestJWKSHostNeverAnswers(t *testing.T) {
	st := startStack(t, nil)
	admin := serveAdmin(t, st.srv)
	j := startStallingJWKS(t)
	next := exampleWithJWKSURL(t, "http://"+j.ln.Addr().String()+"/jwks", 2)
	swapped := make(chan struct{})
	go func() {
		st.store.Swap(next)
		close(swapped)
	}()
	await(t, j.accepted, "the policy writer to start the first JWKS fetch")

	tok := mint(t, demoClaims("acme-hris", "acme", "read:users"))
	others := func(when string) {
		t.Helper()
		if r := do(t, st.addr, "GET", "/v1/status", nil, ""); r.status != 200 {
			t.Errorf("%s: public route got %d %s, want 200", when, r.status, r.body)
		}
		if r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), ""); r.status != 200 {
			t.Errorf("%s: API-key route got %d %s, want 200", when, r.status, r.body)
		}
	}
	others("while the new policy is prepared")
	// The fetch is still in flight: those requests did not wait for it
	// (before the fix the first request built the verifier and waited for
	// the fetch to time out under a lock every request takes).
	if j.open.Load() == 0 {
		t.Error("the JWKS fetch ended before the requests returned: they waited for it")
	}

	await(t, swapped, "the swap")
	if got := st.srv.prepared.Load().snapshot(); got != next {
		t.Fatalf("after Swap the server serves revision %d, want %d", got.Revision, next.Revision)
	}
	others("with the new policy in force")
	r := do(t, st.addr, "GET", "/v1/users/9", bearer(tok), "")
	if r.status != 401 {
		t.Errorf("JWT of the issuer without keys got %d %s, want 401", r.status, r.body)
	} else {
		r.errorBody(t)
	}
	if body := do(t, admin, "GET", "/readyz", nil, "").body; !strings.Contains(body, "jwt issuer demo-idp: keys not fetched yet") {
		t.Errorf("/readyz = %q, want a line naming demo-idp", body)
	}

	j.unblock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := do(t, st.addr, "GET", "/v1/users/9", bearer(mint(t, demoClaims("acme-hris", "acme", "read:users"))), "")
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the JWKS host answered: JWT got %d %s, want 200", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if body := do(t, admin, "GET", "/readyz", nil, "").body; !strings.HasPrefix(body, "ready\n") || strings.Contains(body, "keys not fetched") {
		t.Errorf("/readyz after the fetch = %q, want ready without a pending issuer", body)
	}
}

// TestSwapInstallsPreparedTables is the rebuild race of issue 13 item 3:
// the tables requests use are built by the writer before Swap returns, in
// swap order, so a request still holding an old snapshot can never put
// that snapshot's tables back over a newer one.
func TestSwapInstallsPreparedTables(t *testing.T) {
	st := startStack(t, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
			}
		})
	}
	p := st.srv.prepared.Load()
	if p == nil {
		t.Fatal("no tables for the policy in force before any request")
	}
	first := p.verifier
	for rev := int64(2); rev <= 40; rev++ {
		snap := loadExample(t)
		snap.Revision = rev
		st.store.Swap(snap)
		if got := st.srv.prepared.Load().snapshot(); got != snap {
			t.Fatalf("after Swap of revision %d the server serves %v", rev, got.Revision)
		}
	}
	close(stop)
	wg.Wait()
	p = st.srv.prepared.Load()
	if p.snap != st.store.Load() {
		t.Errorf("server serves revision %d, store holds %d", p.snap.Revision, st.store.Load().Revision)
	}
	if p.verifier != first {
		t.Error("unchanged issuers got a new verifier: fetched keys and cached tokens were thrown away")
	}
}

// TestPolicyHeaderWindow checks the RateLimit-Policy window, including slow
// rates with big bursts whose Per*Burst overflows int64 (issue 13 item 6).
func TestPolicyHeaderWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rate policy.Rate
		want string
	}{
		{"per second", policy.Rate{Events: 5, Per: time.Second, Burst: 10}, `"key";q=10;w=2`},
		{"rounds up", policy.Rate{Events: 7, Per: time.Minute, Burst: 3}, `"key";q=3;w=26`},
		{"under a second is one", policy.Rate{Events: 1e9, Per: time.Second, Burst: 1}, `"key";q=1;w=1`},
		{"1/h burst 1e9", policy.Rate{Events: 1, Per: time.Hour, Burst: 1e9}, `"key";q=1000000000;w=3600000000000`},
		{"3/h burst 1e9", policy.Rate{Events: 3, Per: time.Hour, Burst: 1e9}, `"key";q=1000000000;w=1200000000000`},
		{"7/min burst 1e9", policy.Rate{Events: 7, Per: time.Minute, Burst: 1e9}, `"key";q=1000000000;w=8571428572`},
		{"saturates", policy.Rate{Events: 1, Per: time.Hour, Burst: 1 << 62}, `"key";q=4611686018427387904;w=9223372036854775807`},
		{"no limit", policy.Rate{}, ``},
	}
	for _, tt := range tests {
		if got := policyHeader("key", tt.rate); got != tt.want {
			t.Errorf("%s: policyHeader(%v) = %q, want %q", tt.name, tt.rate, got, tt.want)
		}
	}
}

// TestWithdrawnJWKSRefusedThroughTheSidecar: when the provider's JWKS,
// served over a real socket, stops holding any usable key, the next
// refresh makes the sidecar refuse the issuer's tokens, the one it had
// cached included, and /readyz says why; a provider that fails instead
// (an answer that is not a set) leaves the held keys in use.
func TestWithdrawnJWKSRefusedThroughTheSidecar(t *testing.T) {
	st := startStack(t, nil)
	admin := serveAdmin(t, st.srv)
	var set atomic.Pointer[string]
	keys, page, none := demoJWKS, `<html>maintenance</html>`, `{"keys":[]}`
	set.Store(&keys)
	serveJWKS(t, st, &set)
	tok := bearer(mint(t, demoClaims("acme-hris", "acme", "read:users")))
	if r := do(t, st.addr, "GET", "/v1/users/9", tok, ""); r.status != 200 {
		t.Fatalf("token with the key published: %d %s", r.status, r.body)
	}
	refresh := func() error { return st.srv.prepared.Load().verifier.Refresh(t.Context()) }

	set.Store(&page)
	if err := refresh(); err == nil {
		t.Fatal("a refresh that got no set: nil error")
	}
	if r := do(t, st.addr, "GET", "/v1/users/9", tok, ""); r.status != 200 {
		t.Errorf("token after a failed fetch: %d %s, want 200 (held keys stay)", r.status, r.body)
	}

	set.Store(&none)
	if err := refresh(); err == nil {
		t.Fatal("a refresh that got an empty set: nil error")
	}
	if r := do(t, st.addr, "GET", "/v1/users/9", tok, ""); r.status != 401 {
		t.Errorf("cached token after the set was emptied: %d %s, want 401", r.status, r.body)
	} else {
		r.errorBody(t)
	}
	if body := do(t, admin, "GET", "/readyz", nil, "").body; !strings.Contains(body, "jwt issuer demo-idp: its JWKS holds no usable key") {
		t.Errorf("/readyz = %q, want a line naming demo-idp", body)
	}
}

// TestJWKSFetchFailureLogged: a JWKS provider answering errors reached no
// log line, so an outage showed only as 401s. Each failed fetch is an
// error line naming the issuer and the cause, and the first good fetch
// after them one info line.
func TestJWKSFetchFailureLogged(t *testing.T) {
	logs := &syncBuffer{}
	st := startStack(t, func(c *Config) { c.Logger = zerolog.New(logs) })
	var down atomic.Bool
	down.Store(true)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, demoJWKS)
	}))
	t.Cleanup(jwks.Close)
	st.store.Swap(exampleWithJWKSURL(t, jwks.URL+"/jwks", 2))
	waitLog := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			for _, line := range strings.Split(logs.String(), "\n") {
				if all(line, want) {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no log line with %q in:\n%s", want, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog(`"level":"error"`, `"issuer":"demo-idp"`, "status 503", "token issuer keys not fetched")
	down.Store(false)
	// The background retry (after 1 s, doubling) or a token's refetch
	// brings the keys.
	deadline := time.Now().Add(30 * time.Second)
	for do(t, st.addr, "GET", "/v1/users/9", bearer(mint(t, demoClaims("acme-hris", "acme", "read:users"))), "").status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("JWT still refused 30 s after the provider came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitLog(`"level":"info"`, `"issuer":"demo-idp"`, "token issuer keys fetched again")
}

// all reports whether s holds every one of subs.
func all(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
