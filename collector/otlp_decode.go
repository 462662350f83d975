package collector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/portcullis/portcullis/audit"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Limits on what the collector keeps from foreign records.
const (
	maxForeignAttrs = 64
	maxForeignValue = 1024
	maxForeignBody  = 4096
)

// DecodeLimits bound the work one batch can cause. The zero value means the
// defaults.
type DecodeLimits struct {
	MaxRecords     int // records per batch; 0 means 10,000
	MaxRecordBytes int // encoded bytes per log record; 0 means 64 KiB
	// MaxDecodedBytes bounds the memory a batch's decoded records hold:
	// the records, their strings and their attribute maps, counted as
	// they are decoded (heldBytes). 0 means 32 MiB (for a Collector:
	// twice its MaxBodyBytes). Records decode to a few times their bytes
	// on the wire at most (a map entry of a one-byte foreign attribute
	// takes some 80 bytes for its 10), so the body limit alone does not
	// bound them.
	MaxDecodedBytes int
}

func (l DecodeLimits) withDefaults() DecodeLimits {
	setDefault(&l.MaxRecords, 10_000)
	setDefault(&l.MaxRecordBytes, 64<<10)
	setDefault(&l.MaxDecodedBytes, 32<<20)
	return l
}

// recordBytes is what a record takes in a batch's record slice.
const recordBytes = int(unsafe.Sizeof(StoredRecord{}))

// Map sizes heldBytes counts (Go 1.26's maps: 336 bytes for up to 8
// entries, 77 an entry for 64, measured by TestHeldBytesCoverTheHeap).
const (
	mapBytes      = 512
	mapEntryBytes = 96
)

// heldBytes is at least what a decoded record holds beyond its place in
// the record slice: its strings (a string shared with another record
// counts for each) and its map of foreign attributes.
func (s *StoredRecord) heldBytes() int {
	n := stringBytes(len(s.Body))
	for f := range numTextAttrs {
		n += stringBytes(len(*s.textField(f)))
	}
	if s.Attributes != nil {
		n += mapBytes
		for k, v := range s.Attributes {
			n += mapEntryBytes + stringBytes(len(k)) + stringBytes(len(v))
		}
	}
	return n
}

// stringBytes is at least what a string of n bytes takes on the heap,
// rounded up to its allocation's size class (or, past 32 KiB, pages).
func stringBytes(n int) int {
	switch {
	case n == 0:
		return 0
	case n > 32<<10:
		return n + 8<<10
	}
	return n + n/8 + 16
}

// decodedTooLarge is the error for a batch whose records, n of them so
// far, hold more than lim.MaxDecodedBytes.
func decodedTooLarge(n int, lim DecodeLimits) error {
	return fmt.Errorf("%w: its first %d records decode to more than %d bytes (the limit of a decoded batch, twice --max-batch-bytes)", ErrBatchTooLarge, n, lim.MaxDecodedBytes)
}

// ErrBatchTooLarge is returned (wrapped) by DecodeBatchContext for a batch
// over its DecodeLimits; the collector answers 413.
var ErrBatchTooLarge = errors.New("collector: batch over the limits")

// ErrMalformedBatch is returned (wrapped) by DecodeBatch for a batch that is
// not a valid OTLP ExportLogsServiceRequest.
var ErrMalformedBatch = errors.New("collector: malformed batch")

// Batch is one decoded OTLP export request.
type Batch struct {
	// ID is the portcullis.batch_id resource attribute or, for clients
	// that send none, "sha256:" and the hex digest of the request body, so
	// a retried identical request is stored once either way.
	ID string
	// Sender is who sent the batch, as the collector authenticated it
	// ("token:<name>" or "cert:<identity>"); batch ids are scoped to it.
	Sender   string
	Service  string
	Host     string
	Instance string
	// Pod is the sender's k8s.pod.name: the name its member record in
	// etcd has, so the evidence pack can match a sidecar's records to it.
	Pod string
	// BoundTenants are the tenants the sender is bound to (the
	// Collector sets them; see Entry.BoundTenants), "" for none.
	BoundTenants string
	Records      []StoredRecord
	// Replay is the sidecar's audit.HeaderReplay token of the request (0:
	// none): a duplicate's answer says whether that request stored the
	// batch (DuplicateBatchError.StoredBy). Kept in memory only.
	Replay uint64

	// stored is the size of the entry line Store.AppendBatch wrote for the
	// batch, the bytes it took of the disk (0 until it is stored): what
	// the sender's quota is charged for it (quota.charge).
	stored int64
}

// attrPod is the OpenTelemetry resource attribute of the pod name.
const attrPod = "k8s.pod.name"

// Batch body formats.
const (
	FormatProtobuf = "application/x-protobuf"
	FormatJSON     = "application/json"
)

// DecodeBatch decodes an OTLP/HTTP logs request body in the given format
// (FormatProtobuf or FormatJSON). Records of every resource and scope are
// flattened into one Batch; a request with resources naming different batch
// ids takes the first. It never panics on hostile input.
func DecodeBatch(body []byte, format string) (*Batch, error) {
	return DecodeBatchContext(context.Background(), body, format, DecodeLimits{})
}

// DecodeBatchContext is DecodeBatch within lim, stopping with ctx's error
// when ctx ends (the client left). A batch over lim yields
// ErrBatchTooLarge.
func DecodeBatchContext(ctx context.Context, body []byte, format string, lim DecodeLimits) (*Batch, error) {
	return decodeBatchInto(ctx, body, format, lim, nil)
}

// decodeBatchInto is DecodeBatchContext decoding protobuf records into
// reuse's storage (which it overwrites).
func decodeBatchInto(ctx context.Context, body []byte, format string, lim DecodeLimits, reuse []StoredRecord) (*Batch, error) {
	var b *Batch
	var err error
	lim = lim.withDefaults()
	switch format {
	case FormatProtobuf:
		b, err = decodeWireContext(ctx, body, lim, reuse[:0])
	case FormatJSON:
		b, err = decodeJSON(body, lim)
	default:
		return nil, fmt.Errorf("collector: unsupported batch format %q", format)
	}
	if errors.Is(err, ErrBatchTooLarge) || ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w: cannot decode %s body of %d bytes: %w", ErrMalformedBatch, format, len(body), err)
	}
	if b.ID == "" {
		sum := sha256.Sum256(body)
		b.ID = "sha256:" + hex.EncodeToString(sum[:])
	}
	return b, nil
}

// decodeJSON decodes the OTLP JSON encoding through the generated types.
func decodeJSON(body []byte, lim DecodeLimits) (*Batch, error) {
	n := jsonObjects(body)
	if n > lim.MaxRecords*jsonObjectsPerRecord {
		return nil, fmt.Errorf("%w: %d JSON objects, more than %d records can hold", ErrBatchTooLarge, n, lim.MaxRecords)
	}
	if size := jsonMessageBytes(n, len(body)); size > lim.MaxDecodedBytes {
		return nil, fmt.Errorf("%w: a JSON body of %d objects decodes through messages of up to %d bytes, more than %d (the limit of a decoded batch, twice --max-batch-bytes)", ErrBatchTooLarge, n, size, lim.MaxDecodedBytes)
	}
	// LogsData has the same fields and numbers as ExportLogsServiceRequest
	// (resource_logs = 1), so it decodes the same JSON; the collector
	// package would pull gRPC into every importer of audit, the data plane
	// included (docs/ARCHITECTURE.md, the audit record, forbids that).
	var req logspb.LogsData
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &req); err != nil {
		return nil, err
	}
	if err := jsonWithinLimits(&req, lim); err != nil {
		return nil, err
	}
	return decodeMessage(&req, lim)
}

// jsonObjectsPerRecord bounds the JSON objects a record brings on average
// (a record with 20 attributes has 42), so a body of empty records is
// refused before protojson allocates a message for each: unlike the wire
// decoder, protojson cannot stop at the record limit.
const jsonObjectsPerRecord = 64

// jsonMessageBytes is at least what the generated message of a JSON body
// of size bytes and objects objects holds: some 200 bytes an object (an
// empty log record's, the largest) and its strings, which the body holds
// (TestHeldBytesCoverTheHeap). A body is refused when it is more than
// MaxDecodedBytes, before protojson allocates it: a 1.9 MB body of
// 640,000 empty records took 129 MB to be refused for its records.
func jsonMessageBytes(objects, size int) int {
	return objects*jsonObjectBytes + size + size/8
}

// jsonObjectBytes is the most a JSON object of an OTLP body takes in the
// generated types (a LogRecord, in its size class, and its pointer).
const jsonObjectBytes = 216

// jsonObjects counts the objects in a JSON text ('{' outside strings), in
// one pass without allocating.
func jsonObjects(body []byte) int {
	n, inString := 0, false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && c == '{':
			n++
		}
	}
	return n
}

// jsonWithinLimits applies lim to a decoded JSON request. The JSON body is
// bounded by the collector's body limit and decoded before it is counted,
// unlike the wire path, which stops at the first record over the limits.
func jsonWithinLimits(req *logspb.LogsData, lim DecodeLimits) error {
	n := 0
	for _, rl := range req.GetResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			for _, lr := range sl.GetLogRecords() {
				if n++; n > lim.MaxRecords {
					return fmt.Errorf("%w: more than %d records", ErrBatchTooLarge, lim.MaxRecords)
				}
				if size := proto.Size(lr); size > lim.MaxRecordBytes {
					return fmt.Errorf("%w: record %d of %d bytes over the %d byte limit", ErrBatchTooLarge, n-1, size, lim.MaxRecordBytes)
				}
			}
		}
	}
	return nil
}

// decodeMessage maps a decoded LogsData onto a Batch, within
// lim.MaxDecodedBytes.
func decodeMessage(req *logspb.LogsData, lim DecodeLimits) (*Batch, error) {
	b := &Batch{}
	held := 0
	for _, rl := range req.GetResourceLogs() {
		for _, kv := range rl.GetResource().GetAttributes() {
			b.resourceAttr(kv.GetKey(), pbAnyValue(kv.GetValue()))
		}
		for _, sl := range rl.GetScopeLogs() {
			for _, lr := range sl.GetLogRecords() {
				b.Records = append(b.Records, decodeLogRecord(lr))
				if held += recordBytes + b.Records[len(b.Records)-1].heldBytes(); held > lim.MaxDecodedBytes {
					return nil, decodedTooLarge(len(b.Records), lim)
				}
			}
		}
	}
	return b, nil
}

// resourceAttr keeps the resource attributes a batch is filed under.
// A value is rendered only for a key kept and not yet set; the others
// cost nothing (a nested value is rendered as far as it is kept:
// otlp_nested.go).
func (b *Batch) resourceAttr(key string, v anyValue) {
	switch key {
	case audit.AttrBatchID:
		setOnce(&b.ID, v, maxRenderedBatchID)
	case audit.AttrService:
		setOnce(&b.Service, v, maxFieldBytes)
	case audit.AttrHost:
		setOnce(&b.Host, v, maxFieldBytes)
	case audit.AttrInstanceID:
		setOnce(&b.Instance, v, maxFieldBytes)
	case attrPod:
		setOnce(&b.Pod, v, maxFieldBytes)
	}
}

// maxRenderedBatchID is how much of a nested batch id is rendered (and
// then hashed: admitBatch); no sender of ours sends one.
const maxRenderedBatchID = 1 << 20

// setOnce sets *dst to v's text (a nested value rendered to just over
// limit, which admitBatch cuts) unless it is set.
func setOnce(dst *string, v anyValue, limit int) {
	if *dst == "" {
		*dst = v.text(limit)
	}
}

// recordTime is the time of a record dated ns nanoseconds after the epoch
// (OTLP's unsigned count), saturating at the latest time an int64 of
// nanoseconds holds (2262): int64(ns) wrapped a date past it to one
// before 1970 (TestRecordTimePastInt64Saturates).
func recordTime(ns uint64) time.Time {
	return time.Unix(0, int64(min(ns, math.MaxInt64))).UTC()
}

// decodeLogRecord maps one OTLP log record onto a StoredRecord.
func decodeLogRecord(lr *logspb.LogRecord) StoredRecord {
	var s StoredRecord
	ns := lr.GetTimeUnixNano()
	if ns == 0 {
		ns = lr.GetObservedTimeUnixNano()
	}
	s.Time = recordTime(ns)
	for _, kv := range lr.GetAttributes() {
		s.setAttr(kv.GetKey(), pbAnyValue(kv.GetValue()))
	}
	if body := lr.GetBody(); body != nil {
		s.Body = cut(redactText(pbAnyValue(body).foreignText(maxForeignBody)), maxForeignBody)
	}
	return s
}

// setAttr stores one attribute in its field, or in Attributes when unknown.
func (s *StoredRecord) setAttr(key string, v anyValue) {
	switch f := attrFieldOf([]byte(key)); {
	case f == attrForeign:
		s.setForeignAttr(key, v)
	case f < numTextAttrs:
		*s.textField(f) = v.foreignText(maxFieldBytes) // a nested value is a foreign one
	case f == attrRequestIDSource:
		s.setIDSource(key, v)
	default:
		s.setIntAttr(f, v)
	}
}

// setIDSource stores the request_id_source attribute, v; a value no
// sidecar sends is kept among the foreign attributes, as the sender's own.
func (s *StoredRecord) setIDSource(key string, v anyValue) {
	if s.RequestIDSource.UnmarshalText([]byte(v.foreignText(maxFieldBytes))) != nil {
		s.setForeignAttr(key, v)
	}
}

// attrField is the field of a StoredRecord an attribute goes to.
type attrField uint8

// The attribute fields: text fields first (below numTextAttrs), then
// numbers, then attrForeign for the attributes kept in Attributes.
const (
	attrMethod attrField = iota
	attrRoute
	attrPath
	attrSourceIP
	attrUserAgent
	attrTenant
	attrClient
	attrKeyID
	attrAuthMethod
	attrDecision
	attrRequestID
	attrIssuer
	attrTokenFingerprint
	attrApprovalID
	attrLimit
	attrCertSerial
	attrCertIssuer
	attrCut
	numTextAttrs // not a field: the text fields end here
	attrStatus
	attrBytesIn
	attrBytesOut
	attrPolicyRevision
	attrDuration
	attrCount
	attrRequestIDSource
	attrForeign
)

// attrFieldOf returns the field of the attribute named key. The switch
// on string(key) compares without allocating (BenchmarkDecodeBatchWire).
func attrFieldOf(key []byte) attrField {
	switch string(key) {
	case audit.AttrMethod:
		return attrMethod
	case audit.AttrRoute:
		return attrRoute
	case audit.AttrStatus:
		return attrStatus
	case audit.AttrPath:
		return attrPath
	case audit.AttrSourceIP:
		return attrSourceIP
	case audit.AttrUserAgent:
		return attrUserAgent
	case audit.AttrBytesIn:
		return attrBytesIn
	case audit.AttrBytesOut:
		return attrBytesOut
	}
	return portcullisAttrFieldOf(key)
}

// portcullisAttrFieldOf is attrFieldOf for the portcullis.* attributes.
func portcullisAttrFieldOf(key []byte) attrField {
	switch string(key) {
	case audit.AttrTenant:
		return attrTenant
	case audit.AttrClient:
		return attrClient
	case audit.AttrKeyID:
		return attrKeyID
	case audit.AttrAuthMethod:
		return attrAuthMethod
	case audit.AttrDecision:
		return attrDecision
	case audit.AttrPolicyRevision:
		return attrPolicyRevision
	case audit.AttrRequestID:
		return attrRequestID
	case audit.AttrIssuer:
		return attrIssuer
	case audit.AttrTokenFingerprint:
		return attrTokenFingerprint
	case audit.AttrDuration:
		return attrDuration
	case audit.AttrCount:
		return attrCount
	case audit.AttrApprovalID:
		return attrApprovalID
	case audit.AttrLimit:
		return attrLimit
	case audit.AttrCertSerial:
		return attrCertSerial
	case audit.AttrCertIssuer:
		return attrCertIssuer
	case audit.AttrCut:
		return attrCut
	case audit.AttrRequestIDSource:
		return attrRequestIDSource
	}
	return attrForeign
}

// textField returns the text field f (below numTextAttrs) of s.
func (s *StoredRecord) textField(f attrField) *string {
	switch f {
	case attrMethod:
		return &s.Method
	case attrRoute:
		return &s.Route
	case attrPath:
		return &s.Path
	case attrSourceIP:
		return &s.SourceIP
	case attrUserAgent:
		return &s.UserAgent
	case attrTenant:
		return &s.Tenant
	case attrClient:
		return &s.Client
	case attrKeyID:
		return &s.KeyID
	case attrAuthMethod:
		return &s.AuthMethod
	case attrDecision:
		return &s.Decision
	case attrRequestID:
		return &s.RequestID
	case attrIssuer:
		return &s.Issuer
	case attrTokenFingerprint:
		return &s.TokenFingerprint
	case attrApprovalID:
		return &s.ApprovalID
	case attrLimit:
		return &s.Limit
	case attrCertSerial:
		return &s.CertSerial
	case attrCertIssuer:
		return &s.CertIssuer
	case attrCut:
		return &s.Cut
	}
	panic("BUG: collector: textField of a field that is not text")
}

// setIntAttr stores v in the number field f.
func (s *StoredRecord) setIntAttr(f attrField, v anyValue) {
	switch f {
	case attrStatus:
		s.Status = v.Int()
	case attrBytesIn:
		s.BytesIn = v.Int()
	case attrBytesOut:
		s.BytesOut = v.Int()
	case attrPolicyRevision:
		s.PolicyRevision = v.Int()
	case attrDuration:
		s.DurationUS = v.Int() / 1e3
	case attrCount:
		s.Count = v.Int()
	}
}

// setForeignAttr keeps an attribute the collector does not map, bounded in
// count and size so a hostile client cannot blow up a segment.
func (s *StoredRecord) setForeignAttr(key string, v anyValue) {
	if len(s.Attributes) >= maxForeignAttrs {
		return
	}
	if s.Attributes == nil {
		s.Attributes = make(map[string]string)
	}
	s.Attributes[cut(key, 256)] = cut(foreignAttr(key, v.foreignText(maxForeignValue)), maxForeignValue)
}

// cut is truncate into a string of its own when it cuts s: the part of a
// long value kept does not hold the whole of it (heldBytes counts what is
// kept).
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.Clone(truncate(s, n))
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
