package dataplane

import (
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
}

// Handler is the fasthttp handler of the admin listener.
func (a *Admin) Handler(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/healthz":
		ctx.SetBodyString("ok\n")
	case "/readyz":
		if !a.ready() {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBody(a.Server.appendReadyDetail([]byte("not ready\n")))
			return
		}
		ctx.SetBody(a.Server.appendReadyDetail([]byte("ready\n")))
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
