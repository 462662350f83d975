package collector

import (
	"runtime"
	"strings"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/encoding/protowire"
)

// nestedArray returns an AnyValue nested depth arrays deep around one string.
func nestedArray(depth int) []byte {
	v := protowireMessage(fAnyString, []byte("x"))
	for range depth {
		v = protowireMessage(fAnyArray, protowireMessage(1, v))
	}
	return v
}

// keyValue encodes a KeyValue of key and the AnyValue encoding val.
func keyValue(key string, val []byte) []byte {
	return append(protowireMessage(fKVKey, []byte(key)), protowireMessage(fKVValue, val)...)
}

// nestedBodies are batches whose attributes (of the resource, and of the
// records: more than the 64 foreign ones kept) hold nested arrays.
func nestedBodies() map[string][]byte {
	val := nestedArray(50)
	var res []byte
	for range 2000 {
		res = append(res, protowireMessage(fResAttributes, keyValue("k", val))...)
	}
	var lr []byte
	for range 60 {
		lr = append(lr, protowireMessage(fLRAttributes, keyValue("k", val))...)
	}
	var sl []byte
	for range 30 {
		sl = append(sl, protowireMessage(fSLLogRecords, lr)...)
	}
	return map[string][]byte{
		"resource": protowireMessage(fReqResourceLogs, protowireMessage(fRLResource, res)),
		"records":  protowireMessage(fReqResourceLogs, protowireMessage(fRLScopeLogs, sl)),
	}
}

// Attribute values holding nested arrays or key-value lists were decoded
// into the generated types (every level allocated) and rendered whole
// with protojson, to be cut to 1 KiB or thrown away (a resource attribute
// the collector does not keep): 132 bytes allocated per byte of body, so
// one sender's 16 MiB batch cost 2 GB of allocation and some 10 s of CPU
// (any token holder could keep the collector's cores busy). Now a nested
// value is checked on the wire without allocating, and rendered, from the
// wire, only when kept and only as far as it is kept.
func TestNestedValuesCostBounded(t *testing.T) {
	for name, body := range nestedBodies() {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := decodeWire(body); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		runtime.ReadMemStats(&after)
		if per := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(body)); per > 16 {
			t.Errorf("%s: decoding a body of %d bytes allocated %.1f bytes per byte, want at most 16 (a sidecar's batch: under 1)", name, len(body), per)
		}
		checkWire(t, body, true)
	}
}

// A kept nested value renders the same from the wire as through the
// generated types, merged occurrences included, and is cut where it is
// kept.
func TestNestedValueRendering(t *testing.T) {
	long := strings.Repeat("y", 3000)
	arr := &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{
		sv("a"), {Value: &commonpb.AnyValue_IntValue{IntValue: -7}}, {Value: &commonpb.AnyValue_BoolValue{BoolValue: true}},
		{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 1.5}}, {Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{1, 2}}}, {},
		{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{kv("k", sv("v")), kv("", nil)}}}},
	}}}}
	big := &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{sv(long), sv(long)}}}}
	want := `{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"-7"},{"boolValue":true},{"doubleValue":1.5},{"bytesValue":"AQI="},{},{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}},{}]}}]}}`
	enc := mustMarshal(t, arr)
	if got := pbAnyValue(arr).String(); got != want {
		t.Errorf("generated types render\n%s\nwant\n%s", got, want)
	}
	v, err := wireAnyValue(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.String(); got != want {
		t.Errorf("wire renders\n%s\nwant\n%s", got, want)
	}
	// Two occurrences of the array merge; a scalar after them replaces both.
	twice := append(append([]byte(nil), enc...), enc...)
	merged, _ := wireAnyValue(twice)
	prefix := `{"arrayValue":{"values":[`
	inner := want[len(prefix) : len(want)-3]
	if got, w := merged.String(), prefix+inner+","+inner+"]}}"; got != w {
		t.Errorf("merged arrays render\n%s\nwant\n%s", got, w)
	}
	replaced, _ := wireAnyValue(append(twice, protowireMessage(fAnyString, []byte("last"))...))
	if got := replaced.String(); got != "last" {
		t.Errorf("a string after two arrays renders %q, want last", got)
	}
	// Kept as a foreign attribute: cut to maxForeignValue, the same both ways.
	body := protowireMessage(fReqResourceLogs, protowireMessage(fRLScopeLogs, protowireMessage(fSLLogRecords,
		protowireMessage(fLRAttributes, keyValue("k", mustMarshal(t, big))))))
	checkWire(t, body, true)
	b, _ := decodeWire(body)
	if got := b.Records[0].Attributes["k"]; len(got) != maxForeignValue || !strings.HasPrefix(got, `{"arrayValue":{"values":[{"stringValue":"yyy`) {
		t.Errorf("kept nested attribute: %d bytes %.60q, want %d", len(got), got, maxForeignValue)
	}
	// Malformed or invalid UTF-8 inside a nested value is still refused.
	bad := protowireMessage(fAnyArray, protowireMessage(1, protowireMessage(fAnyString, []byte{0xff})))
	if _, err := wireAnyValue(bad); err == nil {
		t.Error("invalid UTF-8 inside an array accepted")
	}
	if _, err := wireAnyValue(protowireMessage(fAnyArray, []byte{0x0a, 0x05, 0x01})); err == nil {
		t.Error("truncated element inside an array accepted")
	}
	_ = protowire.BytesType
}
