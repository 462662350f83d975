// Package upstream is the demo service that sits behind the sidecar in
// `make demo`, the tests and the load harness: it answers every request with
// a small JSON document naming what it received, so a reader can see the
// normalised path and the identity headers the sidecar added.
package upstream

import (
	"strconv"

	"github.com/valyala/fasthttp"
)

// Handler answers with the method, path and X-Portcullis-* identity headers
// of the request, as JSON. It never echoes credentials or the body.
func Handler(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	b := make([]byte, 0, 256)
	b = append(b, `{"service":"demo","method":`...)
	b = strconv.AppendQuote(b, string(h.Method()))
	b = append(b, `,"path":`...)
	b = strconv.AppendQuote(b, string(h.RequestURI()))
	for _, name := range []string{"X-Portcullis-Tenant", "X-Portcullis-Client", "X-Portcullis-Key-Id", "X-Portcullis-Scopes", "X-Portcullis-Auth-Method", "X-Request-ID"} {
		if v := h.Peek(name); len(v) > 0 {
			b = append(b, ',')
			b = strconv.AppendQuote(b, name)
			b = append(b, ':')
			b = strconv.AppendQuote(b, string(v))
		}
	}
	b = append(b, "}\n"...)
	ctx.SetContentType("application/json")
	ctx.Response.SetBodyRaw(b)
}

// Fixed returns a handler answering every request with body (the load
// harness uses a 1 KiB body).
func Fixed(body []byte) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/octet-stream")
		ctx.Response.SetBodyRaw(body)
	}
}
