package audit

import (
	"encoding/hex"
	"strconv"
	"unicode/utf8"
)

// OTLP attribute names. HTTP and network names follow the OpenTelemetry
// semantic conventions; the rest carry the portcullis. prefix.
const (
	AttrMethod           = "http.request.method"
	AttrRoute            = "http.route"
	AttrStatus           = "http.response.status_code"
	AttrPath             = "url.path"
	AttrSourceIP         = "client.address"
	AttrUserAgent        = "user_agent.original"
	AttrBytesIn          = "http.request.body.size"
	AttrBytesOut         = "http.response.body.size"
	AttrTenant           = "portcullis.tenant"
	AttrClient           = "portcullis.client"
	AttrKeyID            = "portcullis.key_id"
	AttrAuthMethod       = "portcullis.auth_method"
	AttrDecision         = "portcullis.decision"
	AttrPolicyRevision   = "portcullis.policy_revision"
	AttrRequestID        = "portcullis.request_id"
	AttrIssuer           = "portcullis.issuer"
	AttrTokenFingerprint = "portcullis.token_fingerprint"
	AttrDuration         = "portcullis.duration_ns"
	// AttrApprovalID is the approval a privileged request named (sent
	// only when it named one).
	AttrApprovalID = "portcullis.approval_id"
	// AttrLimit is the limit that refused a rate- or concurrency-limited
	// request (Limit: key, tenant, class or concurrency; sent only then).
	AttrLimit = "portcullis.limit"
	// AttrCount is the number of requests an aggregated record stands for
	// (sent only when above 1).
	AttrCount = "portcullis.count"
	// AttrCut says who cut a response short: CutClient when the client's
	// connection failed before the whole of it left (Record.ClientCut;
	// sent only then).
	AttrCut = "portcullis.cut"
	// CutClient is AttrCut's value (and the JSON record's "cut") for a
	// response the client's connection failed to take whole.
	CutClient = "client"
	// AttrCertSerial and AttrCertIssuer name a client certificate refused
	// at the TLS handshake: its serial and the SHA-256 of its issuer's DER
	// subject, both in hex (sent only then).
	AttrCertSerial = "portcullis.cert_serial"
	AttrCertIssuer = "portcullis.cert_issuer"
	// AttrRequestIDSource says who made the request id:
	// RequestIDFromClient when it is the client's X-Request-ID, kept
	// (Record.ClientRequestID; sent only then, so an id the sidecar made
	// costs the record nothing).
	AttrRequestIDSource = "portcullis.request_id_source"
	// RequestIDFromClient is AttrRequestIDSource's value (and the JSON
	// record's "request_id_source") for a request id the client sent.
	RequestIDFromClient = "client"

	// AttrBatchID is the resource attribute naming a batch uniquely
	// (instance id, "-", sequence); the collector stores a batch id once.
	AttrBatchID    = "portcullis.batch_id"
	AttrInstanceID = "portcullis.instance_id"
	// AttrService and AttrHost are the resource's service.name and
	// host.name.
	AttrService = "service.name"
	AttrHost    = "host.name"
	// OpenTelemetry semantic conventions (resource: service, k8s), so
	// that a record can be tied to a service and a pod (issue 13, item 7).
	attrServiceInstance = "service.instance.id"
	attrK8sPod          = "k8s.pod.name"
	attrK8sNamespace    = "k8s.namespace.name"

	// contentTypeProtobuf is the media type of an encoded batch (OTLP/HTTP).
	contentTypeProtobuf = "application/x-protobuf"

	// EventName is the OTLP event name of an audit record.
	EventName = "portcullis.request"
	scopeName = "github.com/portcullis/portcullis/audit"
)

// Protobuf field numbers of the OTLP logs messages (opentelemetry-proto
// logs/v1, common/v1, collector/logs/v1).
const (
	fReqResourceLogs   = 1
	fRLResource        = 1
	fRLScopeLogs       = 2
	fResAttributes     = 1
	fSLScope           = 1
	fSLLogRecords      = 2
	fScopeName         = 1
	fScopeVersion      = 2
	fLRTime            = 1
	fLRSeverityNumber  = 2
	fLRAttributes      = 6
	fLRObservedTime    = 11
	fLREventName       = 12
	fKVKey             = 1
	fKVValue           = 2
	fAnyString         = 1
	fAnyInt            = 3
	severityInfo       = 9
	severityWarn       = 13
	lenReserveRecord   = 2 // a record body is < 16 KiB (varint of 2 bytes)
	lenReserveEnvelope = 4 // a batch is < 256 MiB
)

// Resource names the sidecar that sends audit batches. Empty fields are
// left out of the batch.
type Resource struct {
	Service    string // service.name: the protected service
	Host       string // host.name
	InstanceID string // service.instance.id and portcullis.instance_id; batch ids start with it
	Pod        string // k8s.pod.name
	Namespace  string // k8s.namespace.name
}

// batchEncoder builds one OTLP ExportLogsServiceRequest in a reused buffer,
// one record at a time, without allocating once the buffer has grown.
type batchEncoder struct {
	res    Resource
	buf    []byte
	rlMark int
	slMark int
	n      int
	// size is how many records a batch is to hold (the Emitter's
	// BatchSize; 0: unknown). With it, a buffer too small for the batch
	// grows once, to what the records so far say the whole batch needs
	// (room): append alone grows a large slice by about a quarter at a
	// time, so building a 340 KiB batch in a new buffer allocated 1.5 MB,
	// all of it garbage but the last, and with no collection under a
	// steady load that garbage stayed resident (issue 18).
	size int
	head int // len(buf) after begin: the batch's envelope
	last int // bytes of the record added last
}

// EncodeBatch encodes recs as the Emitter sends them: one OTLP
// ExportLogsServiceRequest whose resource is res with batch id id. It
// builds the batch in buf's storage (overwriting it; pass nil for a new
// buffer) and returns it; it allocates only when buf is too small. The
// collector's tests and benchmarks build their batches with it.
func EncodeBatch(buf []byte, res Resource, id string, recs ...Record) []byte {
	e := batchEncoder{res: res, buf: buf}
	e.begin([]byte(id))
	for i := range recs {
		e.add(&recs[i])
	}
	return e.finish()
}

// begin starts a batch identified by batchID.
func (e *batchEncoder) begin(batchID []byte) {
	e.buf, e.n = e.buf[:0], 0
	e.buf, e.rlMark = beginMsg(e.buf, fReqResourceLogs, lenReserveEnvelope)
	var m int
	e.buf, m = beginMsg(e.buf, fRLResource, lenReserveEnvelope)
	e.buf = appendKVString(e.buf, fResAttributes, AttrService, e.res.Service)
	e.buf = appendKVString(e.buf, fResAttributes, attrServiceInstance, e.res.InstanceID)
	e.buf = appendKVString(e.buf, fResAttributes, AttrHost, e.res.Host)
	e.buf = appendKVString(e.buf, fResAttributes, attrK8sPod, e.res.Pod)
	e.buf = appendKVString(e.buf, fResAttributes, attrK8sNamespace, e.res.Namespace)
	e.buf = appendKVString(e.buf, fResAttributes, AttrInstanceID, e.res.InstanceID)
	e.buf = appendKVString(e.buf, fResAttributes, AttrBatchID, b2s(batchID))
	e.buf = endMsg(e.buf, m, lenReserveEnvelope)
	e.buf, e.slMark = beginMsg(e.buf, fRLScopeLogs, lenReserveEnvelope)
	e.buf, m = beginMsg(e.buf, fSLScope, lenReserveEnvelope)
	e.buf = appendStringField2(e.buf, fScopeName, scopeName)
	e.buf = appendStringField2(e.buf, fScopeVersion, "1")
	e.buf = endMsg(e.buf, m, lenReserveEnvelope)
	e.head = len(e.buf)
}

// add appends r as one LogRecord.
func (e *batchEncoder) add(r *Record) {
	start := len(e.buf)
	if e.size > 0 && cap(e.buf)-start < 2*e.last {
		e.room()
	}
	e.buf = appendLogRecord(e.buf, r)
	e.last = len(e.buf) - start
	e.n++
}

// room grows buf, in one allocation, to hold the rest of the batch at the
// records' mean size so far with an eighth of headroom, and by at least
// half its capacity, so that records larger than those so far do not make
// it grow a little at a time.
func (e *batchEncoder) room() {
	per := e.last
	if e.n > 0 {
		per = (len(e.buf) - e.head) / e.n
	}
	need := len(e.buf) + max(e.size-e.n, 1)*per
	need = max(need+need/8, cap(e.buf)+cap(e.buf)/2)
	b := make([]byte, len(e.buf), need)
	copy(b, e.buf)
	e.buf = b
}

// finish closes the batch and returns its bytes, valid until the next begin.
func (e *batchEncoder) finish() []byte {
	e.buf = endMsg(e.buf, e.slMark, lenReserveEnvelope)
	e.buf = endMsg(e.buf, e.rlMark, lenReserveEnvelope)
	return e.buf
}

// appendLogRecord appends r as a LogRecord field of ScopeLogs.
func appendLogRecord(b []byte, r *Record) []byte {
	b, m := beginMsg(b, fSLLogRecords, lenReserveRecord)
	b = appendTag(b, fLRTime, wireFixed64)
	b = appendFixed64(b, uint64(r.Time))
	sev := uint64(severityInfo)
	if r.Decision != Allowed {
		sev = severityWarn
	}
	b = appendTag(b, fLRSeverityNumber, wireVarint)
	b = appendVarint(b, sev)
	b = appendRecordAttrs(b, r)
	b = appendTag(b, fLRObservedTime, wireFixed64)
	b = appendFixed64(b, uint64(r.Time+r.Duration))
	b = appendStringField2(b, fLREventName, EventName)
	return endMsg(b, m, lenReserveRecord)
}

func appendRecordAttrs(b []byte, r *Record) []byte {
	const f = fLRAttributes
	b = appendKVBytes(b, f, AttrMethod, r.Method())
	b = appendKVString(b, f, AttrRoute, r.Route)
	b = appendKVInt(b, f, AttrStatus, int64(r.Status))
	b = appendKVBytes(b, f, AttrPath, r.Path())
	if r.SourceIP.IsValid() {
		var ip [64]byte
		b = appendKVBytes(b, f, AttrSourceIP, r.SourceIP.AppendTo(ip[:0]))
	}
	b = appendKVBytes(b, f, AttrUserAgent, r.UserAgent())
	b = appendKVInt(b, f, AttrBytesIn, r.BytesIn)
	b = appendKVInt(b, f, AttrBytesOut, r.BytesOut)
	b = appendKVString(b, f, AttrTenant, r.Tenant)
	b = appendKVString(b, f, AttrClient, r.Client)
	b = appendKVBytes(b, f, AttrKeyID, r.KeyID())
	b = appendKVString(b, f, AttrAuthMethod, r.AuthMethod.String())
	b = appendKVString(b, f, AttrDecision, r.Decision.String())
	if r.Limit != NoLimit {
		b = appendKVString(b, f, AttrLimit, r.Limit.String())
	}
	b = appendKVInt(b, f, AttrPolicyRevision, r.PolicyRevision)
	b = appendKVBytes(b, f, AttrRequestID, r.RequestID())
	if r.ClientRequestID {
		b = appendKVString(b, f, AttrRequestIDSource, RequestIDFromClient)
	}
	b = appendKVString(b, f, AttrIssuer, r.Issuer)
	if r.TokenFingerprint != ([16]byte{}) {
		var fp [32]byte
		hex.Encode(fp[:], r.TokenFingerprint[:])
		b = appendKVBytes(b, f, AttrTokenFingerprint, fp[:])
	}
	if r.Count > 1 {
		b = appendKVInt(b, f, AttrCount, int64(r.Count))
	}
	if r.aprLen > 0 {
		b = appendKVBytes(b, f, AttrApprovalID, r.ApprovalID())
	}
	if r.ClientCut {
		b = appendKVString(b, f, AttrCut, CutClient)
	}
	if r.serialLen > 0 {
		b = appendKVBytes(b, f, AttrCertSerial, r.CertSerial())
	}
	if r.CertIssuer != ([32]byte{}) {
		var h [64]byte
		hex.Encode(h[:], r.CertIssuer[:])
		b = appendKVBytes(b, f, AttrCertIssuer, h[:])
	}
	return appendKVInt(b, f, AttrDuration, r.Duration)
}

// beginMsg appends the tag of a length-delimited field and reserve bytes for
// its length, returning the offset of the length for endMsg.
func beginMsg(b []byte, field fieldNum, reserve int) ([]byte, int) {
	b = appendTag(b, field, wireBytes)
	mark := len(b)
	for range reserve {
		b = append(b, 0)
	}
	return b, mark
}

// endMsg writes the length of the message begun at mark, moving the body
// when its varint is shorter than reserved (protobuf wants minimal varints).
func endMsg(b []byte, mark, reserve int) []byte {
	n := len(b) - mark - reserve
	size := sizeVarint(uint64(n))
	if size > reserve {
		panic("BUG: audit: OTLP message larger than its reserved length")
	}
	if size < reserve {
		copy(b[mark+size:], b[mark+reserve:])
		b = b[:len(b)-(reserve-size)]
	}
	appendVarint(b[mark:mark], uint64(n))
	return b
}

// appendStringField2 appends a string field of a message.
func appendStringField2(b []byte, field fieldNum, s string) []byte {
	b = appendTag(b, field, wireBytes)
	b = appendVarint(b, uint64(validLen(s)))
	return appendValidUTF8(b, s)
}

// appendKVString appends a KeyValue with a string AnyValue as field; empty
// values are left out (a missing attribute decodes as "").
func appendKVString(b []byte, field fieldNum, key, val string) []byte {
	if val == "" {
		return b
	}
	valid := utf8.ValidString(val)
	vl := len(val)
	if !valid {
		vl = validLen(val)
	}
	av := 1 + sizeVarint(uint64(vl)) + vl
	b = appendKVHeader(b, field, key, av)
	b = append(b, fAnyString<<3|byte(wireBytes))
	b = appendVarint(b, uint64(vl))
	if valid {
		return append(b, val...)
	}
	return appendValidUTF8(b, val)
}

func appendKVBytes(b []byte, field fieldNum, key string, val []byte) []byte {
	return appendKVString(b, field, key, b2s(val))
}

// appendKVInt appends a KeyValue with an int AnyValue as field.
func appendKVInt(b []byte, field fieldNum, key string, v int64) []byte {
	av := 1 + sizeVarint(uint64(v))
	b = appendKVHeader(b, field, key, av)
	b = append(b, fAnyInt<<3|byte(wireVarint))
	return appendVarint(b, uint64(v))
}

// appendKVHeader appends the KeyValue field, its length, its key and the
// header of its value, which is avLen bytes long. Field numbers here are
// all below 16, so every tag is one byte.
func appendKVHeader(b []byte, field fieldNum, key string, avLen int) []byte {
	kv := 1 + sizeVarint(uint64(len(key))) + len(key) + 1 + sizeVarint(uint64(avLen)) + avLen
	b = append(b, byte(field)<<3|byte(wireBytes))
	b = appendVarint(b, uint64(kv))
	b = append(b, fKVKey<<3|byte(wireBytes))
	b = appendVarint(b, uint64(len(key)))
	b = append(b, key...)
	b = append(b, fKVValue<<3|byte(wireBytes))
	return appendVarint(b, uint64(avLen))
}

// appendVarint appends v as a protobuf varint, with inlined fast paths for the
// one- and two-byte lengths that dominate a record (BenchmarkAuditEncode).
func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<7:
		return append(b, byte(v))
	case v < 1<<14:
		return append(b, byte(v)|0x80, byte(v>>7))
	}
	return appendVarintLong(b, v)
}

func sizeVarint(v uint64) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	}
	return sizeVarintLong(v)
}

// validLen returns the length of s once invalid UTF-8 is replaced by U+FFFD
// (protobuf string fields must be valid UTF-8).
func validLen(s string) int {
	if utf8.ValidString(s) {
		return len(s)
	}
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			n += len(string(utf8.RuneError))
		} else {
			n += size
		}
		i += size
	}
	return n
}

// appendValidUTF8 appends s with invalid UTF-8 replaced by U+FFFD.
func appendValidUTF8(b []byte, s string) []byte {
	if utf8.ValidString(s) {
		return append(b, s...)
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

// appendBatchID appends the batch id of sequence seq of instance id.
func appendBatchID(b []byte, instance string, seq uint64) []byte {
	b = append(b, instance...)
	b = append(b, '-')
	return strconv.AppendUint(b, seq, 10)
}
