package dataplane

import (
	"bufio"
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
	"github.com/valyala/fasthttp"
)

// gatedUpstream is a real upstream on loopback whose public endpoint
// (/v1/status) answers only once release is closed, as a slow endpoint
// does (with ?stream, it sends 100 KiB of a chunked body first); every
// other path, and /v1/status?quick, answers at once.
type gatedUpstream struct {
	addr    string
	release chan struct{}
	held    chan struct{} // one send per request held at the gate
	open    func()        // closes release, once
}

func startGatedUpstream(t *testing.T) *gatedUpstream {
	t.Helper()
	g := &gatedUpstream{release: make(chan struct{}), held: make(chan struct{}, 64)}
	g.open = sync.OnceFunc(func() { close(g.release) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = ln.Addr().String()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) != "/v1/status" || ctx.QueryArgs().Has("quick") {
			ctx.SetBodyString("upstream ok")
			return
		}
		if ctx.QueryArgs().Has("stream") { // a part of the body, then the rest once released
			ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
				w.WriteString(strings.Repeat("x", 100<<10))
				w.Flush()
				g.held <- struct{}{}
				<-g.release
				w.WriteString("end")
			})
			return
		}
		g.held <- struct{}{}
		<-g.release
		ctx.SetBodyString("upstream ok")
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { g.open(); srv.Shutdown() }) // a failed test leaves nothing held
	return g
}

// Requests of public routes (no credential) hold at most their cap of the
// upstream connections, so an authenticated request still gets a
// connection while a slow public endpoint holds its share; past the cap a
// public request is refused with 503 public_limited, the JSON error
// shape, Retry-After, an audit record and a count in the limiter metrics.
// Found by a review: every request shared one pool, public ones without
// a bound, so with 4 upstream connections and 4 slow public requests an
// authenticated request got its answer only when one of them timed out:
// one party without a credential took every tenant's capacity.
//
// Both cases send as many public requests as the pool has connections,
// then an authenticated one, and release the slow endpoint only once the
// authenticated request has its answer: the public requests admitted
// must then get 200, not the 504 of an upstream timeout that freed a
// connection for it (as before the fix).
func TestPublicRoutesCannotTakeTheUpstreamPool(t *testing.T) {
	for _, tc := range []struct {
		name       string
		pool       int
		policyCap  int // public_routes.max_in_flight; 0: the default
		admittedOK int // the cap in force
	}{
		{"policy cap", 4, 2, 2},
		{"default: a quarter of the pool", 8, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGatedUpstream(t)
			st := startStack(t, func(c *Config) {
				c.Upstream, c.MaxUpstreamConn, c.UpstreamTimeout = g.addr, tc.pool, 8*time.Second
			})
			doc := *withoutLimits(t, loadExample(t)).Doc
			if tc.policyCap > 0 {
				doc.PublicRoutes = &policy.PublicSpec{MaxInFlight: tc.policyCap}
			}
			snap, err := policy.Compile(&doc, policy.Live{Revision: 2})
			if err != nil {
				t.Fatal(err)
			}
			st.store.Swap(snap)

			var mu sync.Mutex // guards order and public
			var order []string
			var public []reply
			note := func(ev string) { mu.Lock(); order = append(order, ev); mu.Unlock() }
			var wg sync.WaitGroup
			answered := make(chan struct{}, tc.pool)
			for range tc.pool {
				wg.Go(func() {
					r := do(t, st.addr, "GET", "/v1/status", nil, "")
					mu.Lock()
					public = append(public, r)
					order = append(order, "public "+strconv.Itoa(r.status))
					mu.Unlock()
					answered <- struct{}{}
				})
			}
			// Wait until every public request is either held at the slow
			// endpoint or answered.
			held := 0
			for n := 0; n < tc.pool; n++ {
				select {
				case <-g.held:
					held++
				case <-answered:
				}
			}
			auth := do(t, st.addr, "GET", "/v1/users/1", key(hrisKey), "")
			note("auth " + strconv.Itoa(auth.status))
			g.open()
			wg.Wait()

			if auth.status != 200 {
				t.Fatalf("authenticated request: %d %q, want 200", auth.status, auth.body)
			}
			for _, ev := range order {
				if ev == "auth 200" {
					break
				}
				if ev != "public 503" {
					t.Errorf("order of answers %q: the authenticated request must be answered before any public request the slow endpoint held, while they still hold their share (before the fix it waited for one of them to time out)", order)
					break
				}
			}
			if held != tc.admittedOK {
				t.Errorf("public requests that reached the slow endpoint: %d, want the cap %d", held, tc.admittedOK)
			}
			var ok, refused int
			for _, r := range public {
				switch r.status {
				case 200:
					ok++
				case 503:
					refused++
					e := r.errorBody(t)
					if e.Error != "public_limited" || e.RequestID != r.header.Get("X-Request-ID") {
						t.Errorf("refusal body %q (X-Request-ID %q), want error public_limited and the request id", r.body, r.header.Get("X-Request-ID"))
					}
					if got := r.header.Get("Retry-After"); got != "1" {
						t.Errorf("refusal Retry-After %q, want 1", got)
					}
				default:
					t.Errorf("public request: %d %q, want 200 or 503", r.status, r.body)
				}
			}
			if ok != tc.admittedOK || refused != tc.pool-tc.admittedOK {
				t.Errorf("public requests: %d answered 200, %d refused 503; want %d and %d", ok, refused, tc.admittedOK, tc.pool-tc.admittedOK)
			}
			var recs int
			st.sink.mu.Lock()
			for _, rec := range st.sink.recs {
				if rec.Decision == audit.PublicLimited {
					recs++
					if rec.Status != 503 || rec.Route != "/v1/status" || rec.AuthMethod != audit.AuthNone || string(rec.Path()) != "/v1/status" {
						t.Errorf("audit record of a refusal: status %d route %q auth %s path %q", rec.Status, rec.Route, rec.AuthMethod, rec.Path())
					}
				}
			}
			st.sink.mu.Unlock()
			if recs != tc.pool-tc.admittedOK {
				t.Errorf("audit records public_limited: %d, want %d", recs, tc.pool-tc.admittedOK)
			}
			page := scrape(t, st.srv)
			for _, want := range []string{
				`portcullis_limiter_denials_total{scope="public"} ` + strconv.Itoa(tc.pool-tc.admittedOK) + "\n",
				"portcullis_public_in_flight 0\n",
				"portcullis_public_max_in_flight " + strconv.Itoa(tc.admittedOK) + "\n",
			} {
				if !strings.Contains(page, want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
			// Every slot came back: the cap admits as many again.
			for range tc.admittedOK {
				wg.Go(func() {
					if r := do(t, st.addr, "GET", "/v1/status", nil, ""); r.status != 200 {
						t.Errorf("public request after the slow ones ended: %d %q, want 200", r.status, r.body)
					}
				})
			}
			wg.Wait()
		})
	}
}

// A public request whose response body is streamed holds its slot until
// the body is out, as it holds its upstream connection till then: a
// client reading a long response slowly counts against the cap.
func TestPublicSlotHeldWhileStreaming(t *testing.T) {
	g := startGatedUpstream(t)
	st := startStack(t, func(c *Config) { c.Upstream = g.addr })
	doc := *withoutLimits(t, loadExample(t)).Doc
	doc.PublicRoutes = &policy.PublicSpec{MaxInFlight: 1}
	snap, err := policy.Compile(&doc, policy.Live{Revision: 2})
	if err != nil {
		t.Fatal(err)
	}
	st.store.Swap(snap)

	c, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET /v1/status?stream=1 HTTP/1.1\r\nHost: svc\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 100<<10)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("streamed public response: %d, first 100 KiB: %v", resp.StatusCode, err)
	}
	<-g.held // the rest of the body waits at the upstream
	if r := do(t, st.addr, "GET", "/v1/status?quick=1", nil, ""); r.status != 503 || r.errorBody(t).Error != "public_limited" {
		t.Errorf("public request while the one slot streams: %d %q, want 503 public_limited", r.status, r.body)
	}
	g.open()
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "end" {
		t.Fatalf("rest of the streamed body %q: %v", rest, err)
	}
	// The slot is freed once the stream is closed, which follows the
	// body's end; a new request may arrive just before.
	for i := 0; ; i++ {
		r := do(t, st.addr, "GET", "/v1/status?quick=1", nil, "")
		if r.status == 200 {
			break
		}
		if r.status != 503 || i == 1000 {
			t.Fatalf("public request after the stream ended: %d %q, want 200", r.status, r.body)
		}
		time.Sleep(time.Millisecond)
	}
}
