package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/portcullis/portcullis/examples/upstream"
	"github.com/valyala/fasthttp"
)

// runUpstream serves a fixed body of --size bytes: the service behind every
// proxy target, and the "direct" target itself.
func runUpstream(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "`address` to serve on")
	size := fs.Int("size", 1024, "response body `bytes`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	body := bytes.Repeat([]byte("x"), *size)
	srv := &fasthttp.Server{Handler: upstream.Fixed(body), NoDefaultServerHeader: true}
	return listenAndServe(srv, *listen)
}

// hopByHop are the RFC 9110 section 7.6.1 fields the bare proxy strips, as
// the data plane does.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
}

// runBareProxy is the floor for our stack: the same fasthttp server and
// HostClient settings as dataplane.Server, forwarding every request with no
// checks beyond stripping hop-by-hop headers.
func runBareProxy(args []string) error {
	fs := flag.NewFlagSet("bareproxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "`address` to serve on")
	up := fs.String("upstream", "", "upstream `host:port`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *up == "" {
		return fmt.Errorf("bareproxy needs --upstream")
	}
	hc := &fasthttp.HostClient{
		Addr:                          *up,
		MaxConns:                      1024,
		ReadTimeout:                   30 * time.Second,
		WriteTimeout:                  30 * time.Second,
		MaxIdleConnDuration:           60 * time.Second,
		MaxResponseBodySize:           64 << 20,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		RetryIfErr:                    func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
	}
	handler := func(ctx *fasthttp.RequestCtx) {
		for _, h := range hopByHop {
			ctx.Request.Header.Del(h)
		}
		if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.Error("upstream failed", fasthttp.StatusBadGateway)
			return
		}
		for _, h := range hopByHop {
			ctx.Response.Header.Del(h)
		}
	}
	srv := &fasthttp.Server{
		Handler:               handler,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           60 * time.Second,
		ReadBufferSize:        16 << 10,
		MaxRequestBodySize:    64 << 20,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
	}
	return listenAndServe(srv, *listen)
}

func listenAndServe(srv *fasthttp.Server, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %q: %w", addr, err)
	}
	fmt.Fprintln(os.Stderr, "serving on", ln.Addr())
	return srv.Serve(ln)
}
