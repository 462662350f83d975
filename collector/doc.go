// Package collector receives the audit records that sidecars send (package
// audit's Emitter), stores them in a tamper-evident, signed trail, and
// verifies and queries that trail. It is the collector program's side of
// the audit path; the sidecar's side (Record, the ring, the Emitter and its
// spool, FileWriter, the OTLP encoder) is package audit, which never
// imports this one.
//
// # Intake
//
// The Collector decodes OTLP protobuf bodies straight from the wire
// (DecodeBatch), reading only the fields it keeps and merging repeated
// occurrences as protobuf does; JSON bodies go through the generated
// types. FuzzWireMatchesGenerated holds the wire decoder to the generated
// types' result on every body they accept. Decoding is linear in the body
// (repeated fields are merged into one growing buffer), bounded by
// DecodeLimits (records per batch, bytes per record: ErrBatchTooLarge, a
// 413) and stops when the request's context ends. A record's text fields
// are copied into one string per record, and an attribute whose bytes are
// those of the same position in the record before (a sidecar's records
// repeat most of theirs) is not parsed again (otlp_wire_record.go); the
// intake reads bodies into, and decodes records into, buffers it reuses
// from batch to batch (intake_buffers.go). BenchmarkCollectorIngestCPU
// measures the collector's CPU per stored record.
//
// The Collector knows who sent a batch: the name of its bearer token
// (Config.Tokens, ParseTokenFile; tokens are at least
// MinTokenBytes) or the identity of its verified client certificate. The
// sender is stored with the batch, batch ids are deduplicated per sender,
// records timed outside RecordWindow around receipt are stored with
// FlagTimeOutsideWindow, and fields over the sidecar's sizes are cut and
// flagged FlagTruncated. HTTPServer adds the connection rules: at most
// MaxConns open, a few unauthenticated connections per client address (an
// IPv6 one by its /64), each with UnauthTimeout to send its headers,
// closed after a 401.
//
// # Store
//
// Store keeps a directory of append-only segment files seg-NNNNNNNN.log.
// Each line is one entry {"prev":H0,"hash":H1,"sig":S,"body":B} where B is
// a JSON object {"seq":N,"kind":"batch"|"events"|"retention"|"break",
// "time":...,"durable_head":D...} (D: the seq of the newest head written
// durably before the entry, which no crash loses, so a start refuses a
// head.json older than an entry records; omitted while none), H1 = SHA-256(H0 || exact bytes of B) and S the collector's
// Ed25519 signature of H1; the first entry's prev is 64 zero digits and the
// chain runs across segments. Lines are at most MaxEntryBytes, and every
// store file is opened without following symlinks and must be a regular
// file. An entry is fsync'd before
// AppendBatch or AppendEvents returns, and the Collector acknowledges a
// batch only then. Segments rotate by size or age; a closed segment gets
// seg-NNNNNNNN.digest, an Ed25519-signed summary (file size and SHA-256,
// first/last seq and hash, time span) that includes the previous digest's
// signature, as CloudTrail digest files do. head.json is a signed pointer
// to the newest entry (and its segment) that also records the store's
// retention setting (ReadRetention; re-signed at open when the setting
// changed) and the newest segment sealed (re-signed at each seal),
// rewritten after every append, so cutting entries off
// the open segment is detectable too, and re-signed on a timer even when
// idle (RunHeadSigner), which hands every signed head to HeadPublishers
// outside the host (etcd under the deployment prefix, a FileAnchor) so a
// rolled-back or emptied store is found against it; before the first head
// goes to an anchor (a HeadAnchor), the store checks that it holds the
// head published there (CheckAnchors, PublishChecked), so a store behind
// or forked never moves it, and each head after replaces only the one the
// store last wrote or found there, so another collector's head at the
// same anchor is never overwritten (ErrHeadConflict). At start, the
// digests must run from segment 1 to the newest sealed segment, the open
// segment right after it, the signed head naming no segment past that,
// and the sealed segment files left must run from the oldest kept to the
// newest: retention keeps every digest and deletes the oldest segments
// first, so a store with a gap is refused, naming what is missing
// (checkContiguous); each digest must name its own segment, be signed
// by the key of its segment and carry the signature of the one before
// (the first none: checkDigests); the segment the signed head names and
// the digests up to the newest it says was sealed must be there
// (checkHeadNamed); and each segment gone at the front must be accounted
// for by the trail's retention entries, or be due under the retention
// now (expiredAccounted). Every entry
// of the open segment is checked; entries after the last signed one, or
// after a link that does not hash, are never signed over: the segment is
// sealed with a digest naming its last trusted entry and a break entry
// starts the next one. The chain's end is then compared with the signed
// head: a head past it or naming another hash is recorded as a break
// too; a head missing or invalid over a store with entries is refused
// (no crash leaves it: the head is fsync'd before its rename), and
// recorded as a break only when the operator accepts it
// (StoreConfig.AcceptMissingHead). Batch ids (per sender, within a
// bounded window per sidecar instance: dedup.go) and events (by etcd
// cluster, key and revision, a floor and a window of revisions per
// cluster: eventmarks.go) are deduplicated, and what is remembered of them is
// rebuilt from the trusted entries at start. Each sender has a byte
// quota a minute (Config.SenderQuota, quota.go). An append fails (and the Collector answers
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
// A batch keeps its sender's k8s.pod.name (Pod), the name of the
// sidecar's member record in etcd. Scans decode the batch bodies the store
// wrote without encoding/json (decodeBatchBody; anything else goes to
// encoding/json, and FuzzDecodeBatchBody holds the two to one result).
//
// # Control-plane events
//
// ForwardEvents follows the lifecycle events the CLI writes to etcd (key
// create, rotate, revoke, suspend, policy pushes), and the puts of the
// approval use counters the sidecars make as approval.use events (their
// fields claims, no actor), and stores them with
// AppendEvents, resuming from the etcd revision kept in a file
// (ReadResumeRevision, WriteResumeRevision); an event whose change is not
// in its own etcd transaction is stored marked unverified, never dropped.
// EtcdEvents is the mapping it uses.
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
// holding no store is an error (ErrNoStore). It reads each segment on
// goroutines of its own ahead of the checks (readBlocks: the file's and
// each line's SHA-256), a few blocks of lines at a time.
//
// ReadStore reads a store once for several readers: what QueryRecords and
// QueryEvents yield, and the report VerifyWith makes, from the same bytes
// (a third goroutine decodes the batches for both), so a reader that needs
// all three (the evidence pack) reads the store once instead of three
// times; TestReadStoreMatchesSeparateReads holds it to the three on intact
// and tampered stores.
//
// # Memory and []byte lifetimes
//
// AppendOCSF and StoredRecord.AppendJSON only append to the caller's
// slice. DecodeBatch copies what it keeps; its result does not alias the
// body.
package collector
