package dataplane

import (
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Admin serves the admin listener: /healthz (the process is up), /readyz
// (a policy is loaded, the server is not stopping and every extra check
// passes) and /metrics (Prometheus text: the data plane's metrics followed
// by every extra appender's). Bind it to loopback or a private network.
type Admin struct {
	Server  *Server
	Ready   []func() bool             // extra readiness checks
	Metrics []func(dst []byte) []byte // extra metrics (etcd sync, audit emitter)

	readTimeout, idleTimeout time.Duration // tests shorten them; zero: the defaults below
}

// Handler is the fasthttp handler of the admin listener.
func (a *Admin) Handler(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/healthz":
		ctx.SetBodyString("ok\n")
	case "/readyz":
		if !a.ready() {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBodyString("not ready\n")
			return
		}
		ctx.SetBodyString("ready\n")
	case "/metrics":
		ctx.SetContentType("text/plain; version=0.0.4")
		b := a.Server.appendMetrics(make([]byte, 0, 4096))
		for _, f := range a.Metrics {
			b = f(b)
		}
		ctx.Response.SetBodyRaw(b)
	default:
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetBodyString("not found\n")
	}
}

func (a *Admin) ready() bool {
	if !a.Server.Ready() {
		return false
	}
	for _, f := range a.Ready {
		if !f() {
			return false
		}
	}
	return true
}

// Admin listener bounds: its requests are small and quick, so a client
// that takes longer to send its headers, or idles on a keep-alive
// connection, is cut off (before issue 12 it had no timeout at all, and
// idle connections stayed open indefinitely).
const (
	adminReadTimeout  = 5 * time.Second  // request line, headers and body
	adminWriteTimeout = 10 * time.Second // the response (a /metrics page)
	adminIdleTimeout  = 30 * time.Second // keep-alive, between requests
	adminMaxConns     = 64
)

// NewServer returns the fasthttp server for the admin listener, with the
// timeouts and connection cap above.
func (a *Admin) NewServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:               a.Handler,
		ReadTimeout:           or(a.readTimeout, adminReadTimeout),
		WriteTimeout:          adminWriteTimeout,
		IdleTimeout:           or(a.idleTimeout, adminIdleTimeout),
		NoDefaultServerHeader: true,
	}
}

// Listener wraps the admin listener as Server.Serve wraps the data
// listener: accept errors (EMFILE) are waited out, not fatal, and open
// connections are capped.
func (a *Admin) Listener(ln net.Listener) net.Listener {
	return newListener(ln, adminMaxConns, adminMaxConns, a.Server.log)
}

// or returns d, or def when d is zero.
func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
