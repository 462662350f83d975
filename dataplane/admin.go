package dataplane

import (
	"bytes"
	"fmt"
	"net"
	"net/http/pprof"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"github.com/valyala/fasthttp/pprofhandler"
)

// Admin serves the admin listener: /healthz (the process is up), /readyz
// (a policy is loaded, the server is not draining and every check passes;
// one line per check says its state), /metrics (Prometheus text, every
// family of Metrics) and, with Pprof, /debug/pprof/. Bind it to loopback
// or a private network.
type Admin struct {
	Server *Server
	Checks []Check // checks beyond the Server's own (etcd sync, audit path)
	// Metrics is the registry /metrics renders. Nil means the Server's
	// families and ProcessFamilies; a caller that sets it registers those
	// itself.
	Metrics *Registry
	// Pprof serves the Go runtime profiles under /debug/pprof/ (CPU, heap,
	// goroutines, traces; issue 18). Off by default: a profile costs CPU
	// while it runs and shows the program's internals.
	Pprof bool

	once   sync.Once
	reg    *Registry
	reqSeq atomic.Uint64 // request ids of the admin listener's errors (fail)

	readTimeout, idleTimeout time.Duration // tests shorten them; zero: the defaults below
}

// Check is one line of /readyz: Name and State, which reports whether the
// check passes and says the state in a few words (no secrets: it is served
// to whoever reaches the admin listener). A check that only informs
// returns true.
type Check struct {
	Name  string
	State func() (ok bool, detail string)
}

// Handler is the fasthttp handler of the admin listener. A panic in a
// check or a metrics source answers 500 and leaves the process serving.
func (a *Admin) Handler(ctx *fasthttp.RequestCtx) {
	defer a.recover(ctx)
	switch string(ctx.Path()) {
	case "/healthz", "/readyz", "/metrics":
		if !ctx.IsGet() && !ctx.IsHead() {
			// Answered as a GET before (TestAdminProbesRefuseOtherMethods).
			ctx.Response.Header.Set("Allow", "GET, HEAD")
			a.fail(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "use GET or HEAD")
			return
		}
	}
	switch string(ctx.Path()) {
	case "/healthz":
		ctx.SetBodyString("ok\n")
	case "/readyz":
		b, ok := a.appendReady(make([]byte, 0, 256))
		if !ok {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		}
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.Response.SetBodyRaw(b)
	case "/metrics":
		ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
		ctx.Response.SetBodyRaw(a.registry().AppendText(make([]byte, 0, 8192)))
	default:
		if a.Pprof && bytes.HasPrefix(ctx.Path(), []byte("/debug/pprof/")) {
			a.servePprof(ctx)
			return
		}
		a.fail(ctx, fasthttp.StatusNotFound, "not_found", "no such path on the admin listener (/healthz, /readyz, /metrics)")
	}
}

// fail answers the JSON error shape every Portcullis listener answers
// with (docs/ARCHITECTURE.md): the request's X-Request-ID when it is
// well formed, else one the admin listener counts. msg is a constant
// of printable ASCII without '"' or '\\', so it needs no escaping.
func (a *Admin) fail(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	id := ctx.Request.Header.Peek("X-Request-ID")
	if !validRequestID(id) {
		id = strconv.AppendUint([]byte("admin-"), a.reqSeq.Add(1), 10)
	}
	b := make([]byte, 0, 128)
	b = append(b, `{"error":"`...)
	b = append(b, code...)
	b = append(b, `","message":"`...)
	b = append(b, msg...)
	b = append(b, `","request_id":"`...)
	b = append(b, id...)
	b = append(b, "\"}\n"...)
	ctx.ResetBody()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Request-ID", string(id))
	ctx.Response.SetBodyRaw(b)
}

// pprofIndex is the profile index of net/http/pprof.
var pprofIndex = fasthttpadaptor.NewFastHTTPHandlerFunc(pprof.Index)

// servePprof serves a path under /debug/pprof/: fasthttp's pprofhandler
// (v1.74.0) answers 404 for every path ending in "/", the index itself
// included, so the index is served here.
func (a *Admin) servePprof(ctx *fasthttp.RequestCtx) {
	if msg := pprofRefused(ctx); msg != "" {
		if !ctx.IsGet() && !ctx.IsHead() {
			a.fail(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", msg)
			return
		}
		a.fail(ctx, fasthttp.StatusBadRequest, "bad_request", msg)
		return
	}
	switch string(ctx.Path()) {
	case "/debug/pprof/":
		pprofIndex(ctx)
		return
	case "/debug/pprof/cmdline":
		// The command line as given: a --collector URL's password, a
		// deprecated --etcd-password. Nothing secret on the admin listener.
		a.fail(ctx, fasthttp.StatusNotFound, "not_found", "cmdline is not served: it may hold secrets")
		return
	}
	pprofhandler.PprofHandler(ctx)
}

// pprofRefused says why a profile request is refused, or "". net/http/pprof
// refuses a duration past its server's write timeout; behind the adaptor
// it sees no server and took any: a day's profile held the CPU profiler
// (every later one failed), a day's trace was buffered in memory, and a
// day's delta profile (heap?seconds=, any named profile) held one of the
// admin listener's connections. It reads seconds with FormValue, from a
// POST's form body too, so a profile is read with GET or HEAD (symbol
// excepted: its POST body is addresses, and it takes no seconds), and
// the query is parsed as net/http parses it, every seconds bounded.
func pprofRefused(ctx *fasthttp.RequestCtx) string {
	if !ctx.IsGet() && !ctx.IsHead() && string(ctx.Path()) != "/debug/pprof/symbol" {
		return "profiles are read with GET"
	}
	// The query net/http reads: the adaptor hands it the target as it
	// came, and url.ParseRequestURI keeps a '#' in the query, where
	// fasthttp's ends at it (heap?x#&seconds=86400 held a connection for a
	// day: TestAdminPprofSecondsBehindHash).
	u, err := url.ParseRequestURI(string(ctx.RequestURI()))
	if err != nil {
		return "the target does not parse"
	}
	q, _ := url.ParseQuery(u.RawQuery) // what parses is what net/http uses
	for _, v := range q["seconds"] {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s > pprofMaxSeconds {
			return "seconds over " + strconv.Itoa(pprofMaxSeconds) + ": take a shorter profile"
		}
	}
	return ""
}

// adminRoute names the route of path for a log line: path itself when it
// is one the admin listener serves, "/debug/pprof/*" for a profile, else
// "other". Never the path's own bytes past these: they are the client's,
// and may hold a token pasted into a URL (TestAdminPanicLogHoldsNoPath).
func adminRoute(path []byte) string {
	switch string(path) {
	case "/healthz":
		return "/healthz"
	case "/readyz":
		return "/readyz"
	case "/metrics":
		return "/metrics"
	}
	if bytes.HasPrefix(path, []byte("/debug/pprof/")) {
		return "/debug/pprof/*"
	}
	return "other"
}

// pprofMaxSeconds bounds ?seconds= of a CPU profile or an execution trace.
const pprofMaxSeconds = 60

// recover answers 500 for a panic of Handler, counts it and logs it
// (logPanic) with the route asked for (adminRoute), not its path.
func (a *Admin) recover(ctx *fasthttp.RequestCtx) {
	if p := recover(); p != nil {
		a.Server.metrics.panics.Add(1)
		logPanic(&a.Server.log, p, "admin handler panicked; answered 500", func(ev *zerolog.Event) *zerolog.Event { return ev.Str("route", adminRoute(ctx.Path())) })
		a.fail(ctx, fasthttp.StatusInternalServerError, "internal_error", "the admin handler failed; the process serves on")
	}
}

func (a *Admin) registry() *Registry {
	if a.Metrics != nil {
		return a.Metrics
	}
	a.once.Do(func() {
		a.reg = &Registry{}
		if err := a.reg.Register(append(a.Server.Families(), ProcessFamilies()...)...); err != nil {
			panic("BUG: " + err.Error())
		}
	})
	return a.reg
}

// appendReady appends "ready" or "not ready", then one line per check,
// and reports whether every check passed.
func (a *Admin) appendReady(b []byte) ([]byte, bool) {
	checks := append(a.Server.Checks(), a.Checks...)
	type result struct {
		ok     bool
		detail string
	}
	res := make([]result, len(checks))
	ready := true
	for i, c := range checks {
		res[i].ok, res[i].detail = c.State()
		ready = ready && res[i].ok
	}
	if ready {
		b = append(b, "ready\n"...)
	} else {
		b = append(b, "not ready\n"...)
	}
	for i, c := range checks {
		b = append(b, c.Name...)
		if res[i].ok {
			b = append(b, ": ok"...)
		} else {
			b = append(b, ": FAIL"...)
		}
		if res[i].detail != "" {
			b = append(b, ", "...)
			b = append(b, res[i].detail...)
		}
		b = append(b, '\n')
	}
	return b, ready
}

// Admin listener bounds: its requests are small and quick, so a client
// that takes longer to send its headers, or idles on a keep-alive
// connection, is cut off (before issue 12 it had no timeout at all, and
// idle connections stayed open indefinitely). One address holds at most
// adminMaxConnsPerIP of its connections: with the whole cap per address,
// one peer keeping 64 connections alive had every kubelet probe refused
// at accept (TestAdminOnePeerCannotTakeEveryConnection). Kubelet opens a
// connection per probe, Prometheus one per scrape job.
const (
	adminReadTimeout   = 5 * time.Second  // request line, headers and body
	adminWriteTimeout  = 10 * time.Second // the response (a /metrics page)
	adminIdleTimeout   = 30 * time.Second // keep-alive, between requests
	adminMaxConns      = 64
	adminMaxConnsPerIP = 8 // an IPv6 address by its /64, as --max-conns-per-ip
	// adminMaxBody bounds a request body: no admin path reads one but
	// pprof's symbol lookup (addresses). fasthttp's default, 4 MiB, is
	// allocated whole from the head: 60 connections sending one byte of
	// it took RSS past the injector's 128 MiB memory limit
	// (TestAdminRefusesLargeBodies).
	adminMaxBody = 64 << 10
)

// NewServer returns the fasthttp server for the admin listener, with the
// timeouts and connection cap above. Its connection errors go to the
// sidecar's logger as the data listener's do, at debug level and without
// their arguments: fasthttp's default logger wrote them to stderr at any
// --log-level, quoting the request it could not parse, a scraper's
// Authorization header among it (TestAdminLogsHoldNoRawBytes).
func (a *Admin) NewServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:               a.Handler,
		ReadTimeout:           or(a.readTimeout, adminReadTimeout),
		WriteTimeout:          adminWriteTimeout,
		IdleTimeout:           or(a.idleTimeout, adminIdleTimeout),
		MaxRequestBodySize:    adminMaxBody,
		NoDefaultServerHeader: true,
		Logger:                fasthttpLogger{a.Server.log, &a.Server.metrics.panics},
		SecureErrorLogMessage: true,
	}
}

// Listener wraps the admin listener as Server.Serve wraps the data
// listener: accept errors (EMFILE) are waited out, not fatal, and open
// connections are capped.
func (a *Admin) Listener(ln net.Listener) net.Listener {
	l := newListener(ln, adminMaxConns, adminMaxConnsPerIP, a.Server.log)
	// Its caps are constants, not the data listener's flags.
	l.refusal = fmt.Sprintf("admin connection refused: over the admin listener's caps (%d connections, %d per address)", adminMaxConns, adminMaxConnsPerIP)
	l.onPanic = a.Server.recovered
	return l
}

// or returns d, or def when d is zero.
func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
