// Package audit records what the sidecar decided for every request and
// keeps those records where nobody can quietly change them.
//
// # Record
//
// A Record is a fixed-size value: request-derived text is copied into
// arrays and the string fields point at immutable policy data, so filling
// one and handing it to a sink never allocates. It never holds a key,
// token, secret, cookie, query string or body. Record.AppendJSON encodes
// one as a JSON object with a fixed set of snake_case fields (time, tenant,
// client, key_id, auth_method, issuer, token_fingerprint when set, method,
// route, path, status, decision, request_id, source_ip, bytes_in,
// bytes_out, duration_us, user_agent, policy_revision); every string is
// escaped and invalid UTF-8 becomes U+FFFD.
//
// # Sinks
//
// FileWriter writes JSON lines to a local file; Emitter ships OTLP/HTTP
// logs to a collector. Both share one contract: Emit copies *r into a
// preallocated slot of a bounded lock-free ring (it keeps no pointer, never
// blocks, never allocates) and returns false when the record could not be
// captured; Accepting reports with atomic loads whether a record emitted now
// would be captured (and, for a Strict Emitter, durably spooled if need
// be); Close flushes everything captured, then releases the sink. Swap is
// Emit without the copy: it puts the caller's record itself into the slot
// and returns the slot's previous record, which the consumer is done with,
// for the caller to fill next (the data plane's way). Emit, Swap,
// Accepting and Stats are safe from any number of goroutines; call Close
// once, after the data plane stopped emitting (an Emit racing Close is
// either flushed or refused and counted, never lost silently).
//
// # Emitter lifecycle and spool
//
// One goroutine drains the slots into batches (BatchSize records or
// FlushInterval, whichever first), encoding each straight into an OTLP
// ExportLogsServiceRequest (protobuf, hand-encoded with protowire) with the
// resource attribute portcullis.batch_id = instance id + "-" + sequence.
// A second goroutine POSTs batches to URL+"/v1/logs", retrying within
// RetryBudget with exponential backoff and jitter. A batch it cannot
// deliver, or that arrives while the sender is behind, goes to the spool:
// one file per batch in SpoolDir, named by sequence, written to a temp
// file, fsync'd and renamed. While the spool holds batches new ones queue
// behind them and the sender replays the oldest first, backing off while
// the collector is away. NewEmitter on a non-empty spool replays it, with
// the original batch ids, so the collector stores each batch once. When
// the spool is full, BestEffort drops the batch (DroppedSpool), Strict
// holds it and Accepting turns false so the data plane answers 503.
// Collector answers 400, 413, 415 and 422 mean the batch itself is bad: it
// is dropped and counted in Rejected. While the spool (with the batches on
// their way to it) is above half full, denials without a verified
// credential (no client established, whatever key or token was presented)
// are folded into one record per source, route, reason and second with
// Count set (emitter_aggregate.go); records with a verified credential
// never are. Counters are exact: after Close, Captured =
// Delivered + Spooled + DroppedSpool + Rejected + Aggregated (of this
// run), and Replayed counts spooled records delivered later, by any run.
//
// Every failed attempt is logged by class (FailUnreachable,
// FailUnauthenticated, FailRejected, FailUnavailable, FailSpool) with the
// collector's answer: the first of a class at once, then at most one line
// per LogInterval with the number left unlogged; the first delivery after
// failures logs the recovery. Health reports the same state for /readyz.
// The token is never logged. ClientTLS builds the TLS configuration for a
// collector behind a private CA or in its client-certificate mode. The
// resource of each batch carries service.name, service.instance.id,
// host.name and, when set, k8s.pod.name and k8s.namespace.name.
//
// # Collector storage
//
// The Collector decodes OTLP protobuf bodies straight from the wire
// (DecodeBatch), reading only the fields it keeps and merging repeated
// occurrences as protobuf does; JSON bodies go through the generated
// types. FuzzWireMatchesGenerated holds the wire decoder to the generated
// types' result on every body they accept. Decoding is linear in the body
// (repeated fields are merged into one growing buffer), bounded by
// DecodeLimits (records per batch, bytes per record: ErrBatchTooLarge, a
// 413) and stops when the request's context ends.
//
// The Collector knows who sent a batch: the name of its bearer token
// (CollectorConfig.Tokens, ParseTokenFile; tokens are at least
// MinTokenBytes) or the identity of its verified client certificate. The
// sender is stored with the batch, batch ids are deduplicated per sender,
// records timed outside RecordWindow around receipt are stored with
// FlagTimeOutsideWindow, and fields over the sidecar's sizes are cut and
// flagged FlagTruncated. HTTPServer adds the connection rules: a few
// unauthenticated connections per client address, each with UnauthTimeout
// to send its headers, closed after a 401.
//
// Store keeps a directory of append-only segment files seg-NNNNNNNN.log.
// Each line is one entry {"prev":H0,"hash":H1,"sig":S,"body":B} where B is
// a JSON object {"seq":N,"kind":"batch"|"events"|"retention"|"break",
// "time":...}, H1 = SHA-256(H0 || exact bytes of B) and S the collector's
// Ed25519 signature of H1; the first entry's prev is 64 zero digits and the
// chain runs across segments. Lines are at most MaxEntryBytes, and every
// store file is opened without following symlinks and must be a regular
// file. An entry is fsync'd before
// AppendBatch or AppendEvents returns, and the Collector acknowledges a
// batch only then. Segments rotate by size or age; a closed segment gets
// seg-NNNNNNNN.digest, an Ed25519-signed summary (file size and SHA-256,
// first/last seq and hash, time span) that includes the previous digest's
// signature, as CloudTrail digest files do. head.json is a signed pointer
// to the newest entry, rewritten after every append, so cutting entries off
// the open segment is detectable too, and re-signed on a timer even when
// idle (RunHeadSigner), which hands every signed head to HeadPublishers
// outside the host (etcd under the deployment prefix, a FileAnchor) so a
// rolled-back or emptied store is found against it. At start, every entry
// of the open segment is checked; entries after the last signed one, or
// after a link that does not hash, are never signed over: the segment is
// sealed with a digest naming its last trusted entry and a break entry
// starts the next one. Batch ids (per sender) and events (by etcd key and
// revision) are deduplicated, and the seen sets are rebuilt from the
// trusted entries at start. An append fails (and the Collector answers
// 503) only when its entry was not stored: a failure after the entry's
// fsync (the head, a rotation) is counted in Deferred and retried on the
// next append, and a segment whose creation failed is removed so the next
// attempt can create it. Retention deletes whole
// closed segments whose digest ended more than Retention ago, oldest
// first, keeps their digests, and appends a retention entry naming the
// segment, its last hash and digest signature and the retention in force,
// signed by the collector's key. Batches from OTLP clients
// other than Portcullis are stored too: their records keep the mapped
// semantic-convention attributes in fields, the log body in "body" and
// up to 64 unknown attributes, stringified, in "attributes"; a batch
// without portcullis.batch_id is identified by the SHA-256 of its body.
//
// # Verification
//
// Verify re-walks the chain with the public key and names every problem
// by segment, entry and kind: hash mismatch (an entry edited), chain break
// (entries deleted, inserted or reordered), sequence gap, corrupt entry,
// truncated (a partial last line, or fewer entries than a digest or the
// signed head promise), missing segment (deleted without a retention
// entry), missing digest, digest mismatch (a closed segment changed) and
// bad signature, and beyond the chain: an unsigned tail (entries no
// signature covers, accepted only when younger than
// VerifyOptions.AllowUnsignedTail and dated between the last signed time
// and now), a recorded break, a retention entry
// that is unsigned or premature, a store behind the head published outside
// the host, a file that is not regular, and an empty store. A directory
// holding no store is an error (ErrNoStore).
//
// # Memory and []byte lifetimes
//
// Record accessors (Method, Path, KeyID, RequestID, UserAgent) return
// slices aliasing the Record. AppendJSON and AppendOCSF only append to the
// caller's slice. DecodeBatch copies what it keeps; its result does not
// alias the body. The Emitter's encoded batches live in buffers it reuses.
package audit
