package collector

import (
	"math/rand/v2"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
)

// randAny returns a random AnyValue, nested at most a few levels.
func randAny(r *rand.Rand, depth int) *commonpb.AnyValue {
	k := r.IntN(8)
	if depth > 4 && k >= 5 {
		k = 0
	}
	switch k {
	case 0:
		return sv(string(rune('a' + r.IntN(26))))
	case 1:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: r.Int64() - r.Int64()}}
	case 2:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: r.IntN(2) == 0}}
	case 3:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: r.NormFloat64()}}
	case 4:
		return &commonpb.AnyValue{}
	case 5, 6:
		var vs []*commonpb.AnyValue
		for range r.IntN(4) {
			vs = append(vs, randAny(r, depth+1))
		}
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
	}
	var kvs []*commonpb.KeyValue
	for range r.IntN(4) {
		var v *commonpb.AnyValue
		if r.IntN(4) > 0 {
			v = randAny(r, depth+1)
		}
		kvs = append(kvs, kv(string(rune('a'+r.IntN(3))), v))
	}
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: kvs}}}
}

// TestNestedRenderingMatchesGenerated: random nested values, merged by
// repetition, under kept and foreign keys, render the same from the wire as
// through the generated types.
func TestNestedRenderingMatchesGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		var val []byte
		for range 1 + r.IntN(3) {
			val = append(val, mustMarshal(t, randAny(r, 0))...)
		}
		key := []string{"k", "service.name", "portcullis.batch_id", "http.route", "portcullis.tenant"}[r.IntN(5)]
		attr := keyValue(key, val)
		lr := protowireMessage(fLRAttributes, attr)
		lr = append(lr, protowireMessage(fLRBody, val)...)
		res := protowireMessage(fResAttributes, attr)
		body := protowireMessage(fReqResourceLogs, append(protowireMessage(fRLResource, res), protowireMessage(fRLScopeLogs, protowireMessage(fSLLogRecords, lr))...))
		checkWire(t, body, true)
	}
}
