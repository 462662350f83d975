package audit

import (
	"net/netip"
	"testing"
)

// Reset leaves a record that reads, field by field and in every encoding,
// like the zero Record.
func TestRecordReset(t *testing.T) {
	r := Record{
		Time: 1, Duration: 2, PolicyRevision: 3, BytesIn: 4, BytesOut: 5, Status: 200,
		Decision: Forbidden, AuthMethod: AuthJWT, SourceIP: netip.MustParseAddr("10.0.0.1"),
		Tenant: "acme", Client: "acme-hris", Route: "/v1/users", Issuer: "idp",
		TokenFingerprint: [16]byte{1},
	}
	r.SetMethod([]byte("GET"))
	r.SetKeyID([]byte("acmehris1"))
	r.SetPath([]byte("/v1/users/42"))
	r.SetRequestID([]byte("req-1"))
	r.SetUserAgent([]byte("curl/8"))
	r.Reset()
	var zero Record
	if got, want := string(r.AppendJSON(nil)), string(zero.AppendJSON(nil)); got != want {
		t.Errorf("reset record encodes as\n%s\nwant\n%s", got, want)
	}
	if got, want := appendLogRecord(nil, &r), appendLogRecord(nil, &zero); string(got) != string(want) {
		t.Errorf("reset record encodes in OTLP as %x, want %x", got, want)
	}
	if len(r.Method())+len(r.KeyID())+len(r.Path())+len(r.RequestID())+len(r.UserAgent()) != 0 {
		t.Error("reset record still has text")
	}
	r.method, r.keyID, r.path, r.reqID, r.ua = zero.method, zero.keyID, zero.path, zero.reqID, zero.ua
	if r != zero {
		t.Errorf("reset record differs from the zero Record outside its text arrays: %+v", r)
	}
}
