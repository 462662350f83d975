// Package dataplane is the sidecar's request path: a fasthttp server that
// authenticates, authorizes, limits, proxies to one fixed upstream and
// audits every request, in the order of "The request path" in
// docs/trust-boundary.md (request id, route on the path normalised once,
// body size, credential, scopes and privileged-class rules, limits, proxy,
// audit record).
//
// # Use
//
//	srv, err := dataplane.New(dataplane.Config{Store: store, Upstream: "127.0.0.1:8080", Audit: sink})
//	if err != nil { ... }
//	go srv.Serve(ln)                  // ln: a TCP listener (TLS: Config.TLS, not tls.NewListener)
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
// # Files, in request order
//
// The files of the request path are named by its steps, and decide numbers
// the steps as the README does. Before the path, on the policy writer:
//
//   - prepare.go: the tables a snapshot needs (limits, RateLimit-Policy
//     values, metric slots, issuer rules, the JWT verifier and its first
//     JWKS fetch), built by prepare, the Store's preparer, before the swap.
//
// The path, from a connection to the audit record:
//
//   - server.go: Config, New, Serve, Shutdown, and the fasthttp.Server
//     whose hooks (Handler, errorHandler, headerReceived) enter the path.
//   - conn.go: the listener's connection caps; a connection's requests
//     take turns on one exchange; the per-address key is
//     limiter.PeerKey (an IPv6 peer counts by its /64). headend.go: each
//     request head followed as it is read, to its empty line (bare LF:
//     400 at once). tls.go: TLS on the listener, its files reloaded, and
//     the client certificate's identities (once per connection); crl.go:
//     the client CRLs a handshake checks the certificate against, and the
//     seconds to each one's nextUpdate on /metrics; crl_audit.go: the
//     audit record of each handshake a CRL refuses, rate-limited.
//   - handler.go: the exchange, Handler and decide, which runs steps 1 to
//     6 in order; then deny or forward; then settle, which records.
//   - headers.go: step 1, the one-pass header check (scanHeaders);
//     stripnames.go: the names it strips (X-Portcullis-*, X-Forwarded-*,
//     the headers of proxies naming the client: proxyName).
//     headerlist.go: step 1, the Connection and Trailer lists (bounded,
//     none naming a field the sidecar relies on) and the trailer fields
//     fasthttp merged, found in n log n.
//   - refusecookie.go: step 1, with tenantheader.go's pass: no cookie the
//     policy's refuse_cookies names, under any spelling a common server
//     reads as that name (400 naming the cookie, never its value).
//   - requestid.go: step 1, the request id kept or made.
//   - source.go: step 1, the source address behind a trusted proxy
//     (X-Forwarded-For or Forwarded).
//   - route.go: step 2, the target normalised once, then routed.
//   - size.go: step 3, the body against its class limit: before it is read
//     (headerReceived) and after routing (bodySize). prebody.go: step 3
//     run before the body, for a body above preBodyFree: the route, the
//     declared size, then the credential and authorize (the tenant its
//     path and tenant header name, scopes, privileged-class rules) and a
//     route's approval, so nothing is allocated for the body of an
//     unknown sender or a refused one; expect.go: Expect: 100-continue
//     answered only then. refusal.go: what a request was refused for
//     before the handler, one ranked kind kept on its connection.
//     override.go:
//     step 3, no method override parameter (_method, ASP.NET MVC's
//     X-HTTP-Method-Override, Plack's x-tunneled-method) in the query or
//     a form or JSON body, nor such a body in a content coding, nor an
//     access_token (RFC 6750) in the query or a form, multipart or JSON
//     body.
//     tenantparam.go: step 3, on a route that binds {tenant}, no tenant
//     parameter in the query or such a body; tenantcookie.go: nor a
//     tenant cookie (tenant, __tenant, Abp.TenantId).
//   - credential.go: step 4, API key or token, revocation, suspension.
//   - authorize.go: step 5, scopes, then privileged-class rules.
//   - limit.go: step 6, the buckets, then the concurrency slot (in a
//     class without one, a slot of the tenant's default in-flight cap,
//     Config.TenantMaxInFlight); the 429's Retry-After and RateLimit
//     fields; for a public route instead, a slot of the in-flight cap all
//     public routes share (503 past it). recheck.go: a request whose
//     tables were replaced while it was decided (it waited in its
//     class's queue) is decided again on the tables in force, steps 2
//     to 5, so a revocation or suspension that landed meanwhile holds;
//     and it is judged again with its upstream connection in hand,
//     before a byte is sent (forward.go's roundTrip), for new tables, a
//     credential that ended, a token's key dropped, a certificate
//     revoked, a stale policy or an audit sink not accepting.
//   - approval.go: end of step 6, only on a route that requires an
//     approval: X-Portcullis-Approval consumed through the ApprovalLedger
//     (one etcd transaction, outside the package).
//   - forward.go: step 7, the request rewritten for the upstream, and the
//     response's hop-by-hop headers removed; headerdel.go: each header it
//     removes taken out keeping the order of the lines left.
//   - upstream.go: step 7, the upstream pool: a connection taken, the
//     request written, the response read and its head checked (framing,
//     version, a status within 100..599, header names without ' ' nor
//     '_' standing for a '-' of a name it checks: else 502; forward.go's roundTrip runs them, with recheck.go's
//     judgement between taking and writing).
//   - stream.go: step 7, a large response streamed to the client.
//     stream10.go: to an HTTP/1.0 client, a body of unknown length
//     streamed until the connection closes.
//   - record.go: step 8, the audit record handed to the sink.
//   - deny.go: the answer of every denial, a pre-rendered JSON body.
//   - errors.go: the second entry point, for what fasthttp could not read
//     or parse, answered and recorded the same way.
//
// Beside the path: lifecycle.go (Drain, readiness checks), admin.go and
// registry.go (the admin listener, /metrics), metrics.go,
// metrics_tenant.go (per-tenant series, bounded to the top tenants) and
// metrics_process.go (the families), clock.go, logsafe.go (log lines
// without request bytes) and peek_*.go (the upstream connection check).
// Tests sit beside the step they test; trust_test.go is the trust-boundary
// suite and alloc_test.go the zero-allocation guards.
//
// # Trust boundary
//
// What the upstream receives is checked or set by the sidecar
// (docs/trust-boundary.md): scanHeaders (headers.go) refuses ambiguous framing,
// two credentials and a Host that is not a plain host[:port];
// prepareRequest (forward.go) drops trailers fasthttp merged into the
// header map, every X-Portcullis-* field in any spelling, credentials
// (unless the token's issuer sets forward_token), hop-by-hop, override and
// headers of proxies naming the client (proxyName), then sets the Host, the
// X-Forwarded-For computed from the source address (source.go) and the
// identity headers afresh. The lines left go on in the order the client
// sent them (delHeader, headerdel.go; RFC 9110 section 5.3). Bodies are
// forwarded byte for byte; logs never quote request or response bytes
// (logsafe.go).
//
// # Cost
//
// A request answered from the credential caches allocates nothing, logs
// nothing and never waits on the audit sink; the only waits are the ones
// the policy asks for (the bounded queue of a class with a concurrency
// cap). The per-policy tables (limits, RateLimit-Policy values, metric
// slots, the JWT verifier with its secrets and first JWKS fetch) are built
// by prepare, the step the policy writer runs before the Store installs a
// snapshot (a Store preparer; the swap waits at most two seconds for a new
// issuer's JWKS), never on a request: a request makes one atomic load that
// gives the snapshot and its tables together. An issuer whose keys are
// still missing answers 401 for its tokens and is named in /readyz; other
// routes are unaffected. Per-request state lives in an exchange: the
// requests of a keep-alive connection accepted by Serve take turns on one
// (fasthttp serves a connection's requests one at a time), other contexts
// take one from a pool. BenchmarkDecide and BenchmarkHandler measure the
// path; TestHandlerAllocations guards zero allocations for the allowed API
// key and JWT and each common denial.
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
