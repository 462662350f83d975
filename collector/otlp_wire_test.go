package collector

import (
	"github.com/portcullis/portcullis/audit"
	"math"
	"reflect"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"
)

// generatedBatch decodes body through the generated types: the reference
// the wire decoder must match.
func generatedBatch(body []byte) (*Batch, error) {
	var req logspb.LogsData
	if err := proto.Unmarshal(body, &req); err != nil {
		return nil, err
	}
	return decodeMessage(&req, DecodeLimits{}.withDefaults())
}

// checkWire decodes body both ways. Whatever the generated types accept,
// the wire decoder must accept with the same result; what they refuse it
// may refuse or accept, but never panic. valid says the generated types
// must accept body, so that a hand-built case cannot pass by being junk.
func checkWire(t *testing.T, body []byte, valid bool) {
	t.Helper()
	want, werr := generatedBatch(body)
	got, gerr := decodeWire(body)
	if werr != nil {
		if valid {
			t.Fatalf("the generated types refuse a case meant to be valid: %v", werr)
		}
		return
	}
	if gerr != nil {
		t.Fatalf("wire decoder refused a body the generated types accept: %v", gerr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("wire decoder:\n%+v\ngenerated types:\n%+v", got, want)
	}
}

func kv(key string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: key, Value: v}
}

func sv(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

// TestWireMatchesGenerated: our encoder's batches, every kind of value,
// fields that occur twice (which protobuf merges), foreign attributes past
// the limits, and unknown fields decode the same both ways.
func TestWireMatchesGenerated(t *testing.T) {
	recs := make([]audit.Record, 50)
	for i := range recs {
		recs[i] = sampleRecord(i)
		recs[i].SetUserAgent([]byte("bad\xffua \u2028"))
	}
	checkWire(t, encodeBatch("i-7", recs...), true)

	values := []*commonpb.AnyValue{
		sv("text"), sv(""), sv(" 42 "),
		{Value: &commonpb.AnyValue_IntValue{IntValue: -7}},
		{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}},
		{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 3.75}},
		{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: math.Inf(-1)}},
		{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1, 0xfe}}},
		{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{sv("a"), {Value: &commonpb.AnyValue_IntValue{IntValue: 1}}}}}},
		{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{kv("k", sv("v"))}}}},
		{}, nil,
	}
	keys := []string{audit.AttrMethod, audit.AttrStatus, audit.AttrBytesIn, audit.AttrTenant, audit.AttrPolicyRevision, audit.AttrDuration, audit.AttrRequestID, "foreign.attr"}
	var attrs []*commonpb.KeyValue
	for i, v := range values {
		for _, k := range keys {
			attrs = append(attrs, kv(k, v))
		}
		attrs = append(attrs, kv("x."+string(rune('a'+i)), v))
	}
	for i := range 80 { // past maxForeignAttrs
		attrs = append(attrs, kv("many."+string(rune('A'+i)), sv("v")))
	}
	rec := &logspb.LogRecord{TimeUnixNano: 1_700_000_000_000_000_001, Attributes: attrs, Body: sv("hello")}
	observedOnly := &logspb.LogRecord{ObservedTimeUnixNano: 1_700_000_000_000_000_002, Body: values[8]}
	res := &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
		kv(audit.AttrBatchID, sv("b-1")), kv(audit.AttrService, sv("svc")), kv(audit.AttrHost, values[3]), kv(audit.AttrBatchID, sv("b-2")),
	}}
	data := &logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{
		{Resource: res, ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{rec, observedOnly}}, {}}},
		{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{}}}}},
	}}
	body, err := proto.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	checkWire(t, body, true)

	// A message twice in a row is one merged message: the second
	// ResourceLogs, LogRecord body and KeyValue value merge into the first
	// wherever the field is singular.
	twice := &logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv(audit.AttrInstanceID, sv("i-2"))}},
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{
			TimeUnixNano: 5,
			Attributes:   []*commonpb.KeyValue{kv(audit.AttrMethod, values[4])},
			Body:         values[9],
		}}}},
	}}}
	second, err := proto.Marshal(twice)
	if err != nil {
		t.Fatal(err)
	}
	checkWire(t, append(append([]byte(nil), body...), second...), true)
	for _, v := range values[:10] {
		for _, w := range values[:10] {
			a, _ := proto.Marshal(&commonpb.KeyValue{Key: "m", Value: v})
			b, _ := proto.Marshal(&commonpb.KeyValue{Key: "n", Value: w})
			kvs := append(a, b...) // one KeyValue: key n, value v merged with w
			lr := protowireMessage(fLRAttributes, kvs)
			lr = append(lr, protowireMessage(fLRBody, append(mustMarshal(t, v), mustMarshal(t, w)...))...)
			checkWire(t, protowireMessage(fReqResourceLogs, protowireMessage(fRLScopeLogs, protowireMessage(fSLLogRecords, lr))), true)
		}
	}

	// Fields the decoder does not read, and known fields with a wire type
	// they do not have, are skipped as protobuf skips unknown fields.
	unknown := append(append([]byte(nil), body...), 0xf8, 0x07, 0x01, 0x0a, 0x00, 0x10, 0x05)
	checkWire(t, unknown, true)
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// protowireMessage encodes payload as field num of type bytes.
func protowireMessage(num int, payload []byte) []byte {
	b := []byte{byte(num<<3 | 2)}
	n := len(payload)
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(append(b, byte(n)), payload...)
}

// FuzzWireMatchesGenerated holds the wire decoder to the generated types'
// answer on any body they accept. Seeds: testdata/fuzz/FuzzWireMatchesGenerated.
func FuzzWireMatchesGenerated(f *testing.F) {
	f.Add(encodeBatch("i-1", sampleRecord(1)))
	f.Add(encodeBatch("i-2", sampleRecord(1), sampleRecord(2), sampleRecord(2)))
	f.Add(protowireMessage(fReqResourceLogs, protowireMessage(fRLScopeLogs, protowireMessage(fSLLogRecords,
		protowireMessage(fLRAttributes, append(protowireMessage(fKVKey, []byte("k")), protowireMessage(fKVValue, protowireMessage(fAnyString, []byte("v")))...))))))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkWire(t, body, false)
	})
}

// TestWireRecordCacheMatchesGenerated: the decoder reuses what an
// attribute position of the record before decoded to when its bytes are
// the same (recordCache). Records that repeat, then change, an
// attribute's type, key, position or value, that name a field twice, and
// foreign and long values, decode as the generated types decode them.
func TestWireRecordCacheMatchesGenerated(t *testing.T) {
	iv := func(i int64) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
	}
	long := string(make([]byte, 300))
	shapes := [][]*commonpb.KeyValue{
		{kv(audit.AttrTenant, sv("acme")), kv(audit.AttrStatus, iv(200)), kv(audit.AttrPath, sv("/a"))},
		{kv(audit.AttrTenant, sv("acme")), kv(audit.AttrStatus, iv(200)), kv(audit.AttrPath, sv("/b"))},
		{kv(audit.AttrTenant, iv(7)), kv(audit.AttrStatus, sv("201")), kv(audit.AttrPath, sv("/b"))},
		{kv(audit.AttrStatus, iv(200)), kv(audit.AttrTenant, sv("acme")), kv(audit.AttrTenant, sv("beta"))},
		{kv(audit.AttrTenant, sv("acme")), kv(audit.AttrTenant, sv("acme")), kv("x.foreign", sv("acme"))},
		{kv(audit.AttrClient, sv("acme")), kv(audit.AttrStatus, iv(200)), kv(audit.AttrPath, sv(long))},
		{kv(audit.AttrTenant, sv("acme")), kv(audit.AttrStatus, iv(200)), kv(audit.AttrPath, sv(long))},
		{kv(audit.AttrTenant, sv("")), kv(audit.AttrStatus, iv(200))},
		{kv(audit.AttrTenant, sv("acme")), kv(audit.AttrStatus, &commonpb.AnyValue{}), kv(audit.AttrPath, sv("/a"))},
		{kv(audit.AttrTenant, sv("acme")), kv(audit.AttrStatus, iv(200)), kv(audit.AttrPath, sv("/a"))},
	}
	var recs []*logspb.LogRecord
	for i, attrs := range shapes {
		recs = append(recs, &logspb.LogRecord{TimeUnixNano: uint64(i + 1), Attributes: attrs})
	}
	body := mustMarshal(t, &logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs}}}}})
	checkWire(t, body, true)
	got, err := decodeWire(body)
	if err != nil {
		t.Fatal(err)
	}
	if got.Records[1].Tenant != "acme" || got.Records[2].Tenant != "7" || got.Records[3].Tenant != "beta" || got.Records[4].Attributes["x.foreign"] != "acme" {
		t.Fatalf("records decoded as %+v", got.Records)
	}
}
