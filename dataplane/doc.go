// Package dataplane is the sidecar's request path: a fasthttp server that
// authenticates, authorizes, limits, proxies to one fixed upstream and
// audits every request, in the order DESIGN.md gives (request id, route
// on the path normalised once, body size, credential, scopes and
// privileged-class rules, limits, proxy, audit record).
//
// # Use
//
//	srv, err := dataplane.New(dataplane.Config{Store: store, Upstream: "127.0.0.1:8080", Audit: sink})
//	if err != nil { ... }
//	go srv.Serve(ln)                  // ln: a TCP listener
//	admin := &dataplane.Admin{Server: srv} // /healthz, /readyz, /metrics
//	...
//	srv.Drain()                       // /readyz 503; requests still served
//	time.Sleep(drainDelay)            // endpoints drop the pod
//	srv.Shutdown(ctx)                 // close the listener, finish in-flight, close keep-alives
//	srv.Close()
//
// /metrics renders a Registry of Family values: the Server's (Families),
// the process's (ProcessFamilies) and whatever the caller registers, each
// name once. /readyz lists every Check with its state. A panic anywhere a
// request runs, or in the admin handler, answers 500 and is counted.
//
// Policy comes from the policy.Store: every request loads the current
// snapshot once and uses it throughout, so a swap never splits a request.
// With no snapshot, every request gets 503 (not ready); no route, an
// unknown credential or a failed verification is a denial.
//
// # Trust boundary
//
// What the upstream receives is checked or set by the sidecar (README,
// "Trust boundary"): scanHeaders refuses ambiguous framing, two
// credentials and a Host that is not a plain host[:port]; prepareRequest
// drops trailers fasthttp merged into the header map, every X-Portcullis-*
// field in any spelling, credentials (unless the token's issuer sets
// forward_token), hop-by-hop and override headers, then sets the Host, the
// computed X-Forwarded-For (forwarded.go) and the identity headers afresh.
// Bodies are forwarded byte for byte; logs never quote request or response
// bytes (logsafe.go).
//
// # Cost
//
// A request answered from the credential caches allocates nothing, logs
// nothing and never waits on the audit sink; the only waits are the ones
// the policy asks for (the bounded queue of a class with a concurrency
// cap). The per-policy tables (limits, RateLimit-Policy values, metric
// slots, the JWT verifier with its secrets and first JWKS fetch) are built
// by the policy writer before the Store installs a snapshot (a Store
// preparer; the swap waits at most two seconds for a new issuer's JWKS),
// never on a request: a request makes one atomic load that gives the
// snapshot and its tables together. An issuer whose keys are still
// missing answers 401 for its tokens and is named in /readyz; other
// routes are unaffected. Per-request state lives in an
// exchange: the requests of a keep-alive connection accepted by Serve take
// turns on one (fasthttp serves a connection's requests one at a time),
// other contexts take one from a pool. BenchmarkDecide and
// BenchmarkHandler measure the path; TestHandlerAllocations guards zero
// allocations for the allowed API key and JWT and each common denial.
//
// # Responses and connections
//
// The round trip to the upstream is the data plane's own, on
// fasthttp.HostClient's pool (see origin): a connection with a byte left
// over after a response, or any framing anomaly, is closed and never
// reused, so one response's bytes cannot reach another request. Bodies of
// known length up to 64 KiB are read whole; longer ones, and chunked ones,
// are streamed to the client through a responseBody, which completes the
// exchange (slot, audit record with the bytes sent) when fasthttp closes
// it. A class's max_response_body caps them (502 response_too_large).
// Serve's listener caps open connections in total and per peer address
// and treats accept errors (EMFILE) as temporary.
//
// # Concurrency and lifetimes
//
// A Server is safe for concurrent use. Slices the handler takes from a
// request (header values, the query) alias fasthttp's buffers and live
// until the handler returns. The Sink receives each audit record by
// handing it over (Sink.Swap), so the data plane never touches a record
// after giving it away.
package dataplane
