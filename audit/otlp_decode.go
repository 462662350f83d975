package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
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

// ErrMalformedBatch is returned (wrapped) by DecodeBatch for a batch that is
// not a valid OTLP ExportLogsServiceRequest.
var ErrMalformedBatch = errors.New("audit: malformed batch")

// Batch is one decoded OTLP export request.
type Batch struct {
	// ID is the portcullis.batch_id resource attribute or, for clients
	// that send none, "sha256:" and the hex digest of the request body, so
	// a retried identical request is stored once either way.
	ID       string
	Service  string
	Host     string
	Instance string
	Records  []StoredRecord
}

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
	// LogsData has the same fields and numbers as ExportLogsServiceRequest
	// (resource_logs = 1), so it decodes the same bytes and JSON; the
	// collector package would pull gRPC into every importer of audit,
	// the data plane included (DESIGN.md forbids that).
	var req logspb.LogsData
	var err error
	switch format {
	case FormatProtobuf:
		err = proto.Unmarshal(body, &req)
	case FormatJSON:
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(body, &req)
	default:
		return nil, fmt.Errorf("audit: unsupported batch format %q", format)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: cannot decode %s body of %d bytes: %w", ErrMalformedBatch, format, len(body), err)
	}
	b := &Batch{}
	for _, rl := range req.GetResourceLogs() {
		b.decodeResource(rl)
	}
	if b.ID == "" {
		sum := sha256.Sum256(body)
		b.ID = "sha256:" + hex.EncodeToString(sum[:])
	}
	return b, nil
}

func (b *Batch) decodeResource(rl *logspb.ResourceLogs) {
	for _, kv := range rl.GetResource().GetAttributes() {
		v := anyString(kv.GetValue())
		switch kv.GetKey() {
		case AttrBatchID:
			setOnce(&b.ID, v)
		case attrService:
			setOnce(&b.Service, v)
		case attrHost:
			setOnce(&b.Host, v)
		case AttrInstanceID:
			setOnce(&b.Instance, v)
		}
	}
	for _, sl := range rl.GetScopeLogs() {
		for _, lr := range sl.GetLogRecords() {
			b.Records = append(b.Records, decodeLogRecord(lr))
		}
	}
}

func setOnce(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// decodeLogRecord maps one OTLP log record onto a StoredRecord.
func decodeLogRecord(lr *logspb.LogRecord) StoredRecord {
	var s StoredRecord
	ns := lr.GetTimeUnixNano()
	if ns == 0 {
		ns = lr.GetObservedTimeUnixNano()
	}
	s.Time = time.Unix(0, int64(ns)).UTC()
	for _, kv := range lr.GetAttributes() {
		s.setAttr(kv)
	}
	if body := lr.GetBody(); body != nil {
		s.Body = truncate(anyString(body), maxForeignBody)
	}
	return s
}

// setAttr stores one attribute in its field, or in Attributes when unknown.
func (s *StoredRecord) setAttr(kv *commonpb.KeyValue) {
	v := kv.GetValue()
	switch kv.GetKey() {
	case AttrMethod:
		s.Method = anyString(v)
	case AttrRoute:
		s.Route = anyString(v)
	case AttrStatus:
		s.Status = anyInt(v)
	case AttrPath:
		s.Path = anyString(v)
	case AttrSourceIP:
		s.SourceIP = anyString(v)
	case AttrUserAgent:
		s.UserAgent = anyString(v)
	case AttrBytesIn:
		s.BytesIn = anyInt(v)
	case AttrBytesOut:
		s.BytesOut = anyInt(v)
	default:
		s.setPortcullisAttr(kv.GetKey(), v)
	}
}

func (s *StoredRecord) setPortcullisAttr(key string, v *commonpb.AnyValue) {
	switch key {
	case AttrTenant:
		s.Tenant = anyString(v)
	case AttrClient:
		s.Client = anyString(v)
	case AttrKeyID:
		s.KeyID = anyString(v)
	case AttrAuthMethod:
		s.AuthMethod = anyString(v)
	case AttrDecision:
		s.Decision = anyString(v)
	case AttrPolicyRevision:
		s.PolicyRevision = anyInt(v)
	case AttrRequestID:
		s.RequestID = anyString(v)
	case AttrIssuer:
		s.Issuer = anyString(v)
	case AttrTokenFingerprint:
		s.TokenFingerprint = anyString(v)
	case AttrDuration:
		s.DurationUS = anyInt(v) / 1e3
	default:
		s.setForeignAttr(key, v)
	}
}

// setForeignAttr keeps an attribute the collector does not map, bounded in
// count and size so a hostile client cannot blow up a segment.
func (s *StoredRecord) setForeignAttr(key string, v *commonpb.AnyValue) {
	if len(s.Attributes) >= maxForeignAttrs {
		return
	}
	if s.Attributes == nil {
		s.Attributes = make(map[string]string)
	}
	s.Attributes[truncate(key, 256)] = truncate(anyString(v), maxForeignValue)
}

// anyString renders an AnyValue as text.
func anyString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		return hex.EncodeToString(x.BytesValue)
	case nil:
		return ""
	}
	out, err := protojson.Marshal(v)
	if err != nil {
		return ""
	}
	return string(out)
}

// anyInt reads an int AnyValue, accepting numeric strings and doubles from
// clients that type attributes loosely.
func anyInt(v *commonpb.AnyValue) int64 {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return int64(x.DoubleValue)
	case *commonpb.AnyValue_StringValue:
		n, _ := strconv.ParseInt(strings.TrimSpace(x.StringValue), 10, 64)
		return n
	}
	return 0
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
