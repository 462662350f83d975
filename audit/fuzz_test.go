package audit

import (
	"testing"
)

// FuzzDecodeBatch feeds hostile OTLP bodies, protobuf and JSON, to the
// collector's decoder and re-encodes what it accepts: neither may panic.
// Seeds live in testdata/fuzz/FuzzDecodeBatch.
func FuzzDecodeBatch(f *testing.F) {
	var enc batchEncoder
	enc.res = Resource{Service: "svc", Host: "h", InstanceID: "i"}
	enc.begin([]byte("i-1"))
	r := sampleRecord(1)
	enc.add(&r)
	f.Add(append([]byte(nil), enc.finish()...), false)
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","body":{"stringValue":"hi"},"attributes":[{"key":"http.route","value":{"stringValue":"/x"}}]}]}]}]}`), true)
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		format := FormatProtobuf
		if asJSON {
			format = FormatJSON
		}
		b, err := DecodeBatch(body, format)
		if err != nil {
			return
		}
		if b.ID == "" {
			t.Fatal("accepted batch without an id")
		}
		for i := range b.Records {
			b.Records[i].AppendJSON(nil)
			AppendOCSF(nil, &b.Records[i])
		}
	})
}
