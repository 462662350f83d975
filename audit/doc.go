// Package audit records what the sidecar decided for every request and
// hands those records to a local file or to the collector (package
// collector), which keeps them where nobody can quietly change them. It is
// the sidecar's side of the audit path.
//
// # Record
//
// A Record is a fixed-size value: request-derived text is copied into
// arrays and the string fields point at immutable policy data, so filling
// one and handing it to a sink never allocates. It never holds a key,
// token, secret, cookie, query string or body. Record.AppendJSON encodes
// one as a JSON object with a fixed set of snake_case fields (time, tenant,
// client, key_id, auth_method, issuer, token_fingerprint when set, method,
// route, path, status, decision, limit when a limit refused the request
// (Limit: key, tenant, class, concurrency), request_id, source_ip, bytes_in,
// bytes_out, duration_us, user_agent, policy_revision); every string is
// escaped and invalid UTF-8 becomes U+FFFD.
//
// # Sinks
//
// FileWriter writes JSON lines to a local file; Emitter ships OTLP/HTTP
// logs to a collector. Both share one contract: Emit copies *r into a
// slot of a bounded lock-free ring (it keeps no pointer, never blocks, and
// allocates only while more records are in flight than ever before: the
// records go round) and returns false when the record could not be
// captured; Accepting reports with atomic loads whether a record emitted now
// would be captured (and, for a Strict Emitter, durably spooled if need
// be); Close flushes everything captured, then releases the sink. Swap is
// Emit without the copy: it puts the caller's record itself into the slot
// and returns a record the consumer is done with (the one it finished
// last), for the caller to fill next (the data plane's way). Emit, Swap,
// Accepting and Stats are safe from any number of goroutines; call Close
// once, after the data plane stopped emitting (an Emit racing Close is
// either flushed or refused and counted, never lost silently).
//
// # Emitter lifecycle and spool
//
// One goroutine drains the slots into batches (BatchSize records or
// FlushInterval, whichever first), encoding each straight into an OTLP
// ExportLogsServiceRequest (protobuf, hand-encoded in otlp_encode.go
// and wire.go, so the sidecar links no protobuf library) with the
// resource attribute portcullis.batch_id = instance id + "-" + sequence.
// A second goroutine POSTs batches to URL+"/v1/logs" (HTTP/1.1 with
// fasthttp's client over a kept-alive connection, TLS with the TLS config
// for an https URL, at most 10 s an attempt; one request and one response
// reused, the body sent from the batch buffer, so a delivery leaves no
// garbage), retrying within RetryBudget with exponential backoff and
// jitter. A batch it cannot
// deliver, or that arrives while the sender is behind, goes to the spool:
// one file per batch in SpoolDir, named by sequence, written to a temp
// file, fsync'd and renamed, the directory fsync'd before the batch counts
// as spooled. The batcher does not write them: a third goroutine takes
// the batches queued for the spool and writes them as a group (their
// fsyncs together, one of the directory), so the slots drain while the
// disk commits (emitter_spool.go, spool_group.go). Every file operation is
// relative to the directory opened at start, never through its path; a
// directory deleted meanwhile is made again (0700), the records that went
// with it counted dropped and logged once, and one replaced by a symbolic
// link or another user's directory is refused (spool_dir.go). While the
// spool holds batches new ones queue
// behind them and the sender replays the oldest first, backing off while
// the collector is away. NewEmitter on a non-empty spool replays it, with
// the original batch ids, so the collector stores each batch once. When
// the spool is full, BestEffort drops the batch (DroppedSpool), Strict
// holds it and Accepting turns false so the data plane answers 503.
// Collector answers 400, 413, 415 and 422 mean the batch itself is bad: it
// is dropped and counted in Rejected, and so is a batch the collector
// refuses for good (403 tenant_not_bound, 409 batch_outside_window:
// FailRefused). A collector's Retry-After (429 sender_quota, 503
// collector_busy) is the least the sender waits before it tries again.
// While the spool (with the batches on their way to it) is above half
// full, denials without a verified credential (no client established,
// whatever key or token was presented) are folded into one record per source (an IPv6 one by its /64), route, reason and second with
// Count set (emitter_aggregate.go); records with a verified credential
// only when they are the client's own limit refusals (ClientFolds:
// rate_limited naming a token bucket, concurrency_limited naming an
// in-flight cap, answered 429 and naming a tenant, the rule by which the
// collector believes such a count), one per client, key, route, decision,
// limit and second. A group is closed at MaxFoldCount requests and the
// next opens another, so no record counts more. Counters are exact: after Close, Captured =
// Delivered + Spooled + DroppedSpool + Rejected + Aggregated (of this
// run), and Replayed counts spooled records delivered later, by any run;
// Restored those of them counted DroppedSpool (gone with a deleted spool
// directory) and put back by hand before they were delivered, not
// counted in Replayed.
//
// Every failed attempt is logged by class (FailUnreachable,
// FailUnauthenticated, FailRejected, FailUnavailable, FailSpool) with the
// collector's answer: the first of a class at once, then at most one line
// per LogInterval with the number left unlogged; the first delivery after
// failures logs the recovery. Records dropped (DroppedFull, DroppedSpool)
// are logged too, the first at once, then at most one warn line per
// DropLogInterval with the count since the line before; Close logs what
// is left. Health reports the same state for /readyz.
// The token is never logged. ClientTLS builds the TLS configuration for a
// collector behind a private CA or in its client-certificate mode. The
// resource of each batch carries service.name, service.instance.id,
// host.name and, when set, k8s.pod.name and k8s.namespace.name.
//
// # Memory and []byte lifetimes
//
// Each sink's ring holds up to DefaultSlots records (2.8 MiB, unless Slots
// says otherwise), allocated as they are first needed and reused from then
// on, the one finished last first: a load that keeps up touches the few
// hundred in flight, not the whole ring. DefaultSlots says why it is that
// size.
// Record accessors (Method, Path, KeyID, RequestID, UserAgent) return
// slices aliasing the Record. AppendJSON, AppendJSONString and EncodeBatch
// only append to (or reuse) the caller's slice. The Emitter's encoded
// batches live in buffers it reuses.
//
// # What audit does not hold
//
// The collector that receives, stores and verifies these records is
// package collector; audit links no protobuf library and none of the
// generated OTLP types (TestArchitecture at the module root checks it).
package audit
