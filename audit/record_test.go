package audit

import (
	"net/netip"
	"reflect"
	"strings"
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

// CopyTo gives a record equal to its source in every field and encoding,
// even over a record that held longer text. Every scalar and string field
// is set by reflection, so a field added to Record but not to CopyTo fails
// here.
func TestRecordCopyTo(t *testing.T) {
	var src Record
	v := reflect.ValueOf(&src).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch f.Kind() {
		case reflect.Int64, reflect.Int, reflect.Int32:
			f.SetInt(int64(i + 1))
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(uint64(i + 1))
		case reflect.String:
			f.SetString("s" + v.Type().Field(i).Name)
		}
	}
	src.SourceIP = netip.MustParseAddr("10.0.0.1")
	src.TokenFingerprint = [16]byte{1, 2, 3}
	src.SetMethod([]byte("GET"))
	src.SetKeyID([]byte("acmehris1"))
	src.SetPath([]byte("/v1/users/42"))
	src.SetRequestID([]byte("req-1"))
	src.SetUserAgent([]byte("curl/8"))
	var dst Record
	dst.SetPath([]byte("/a/much/longer/path/than/the/source/has"))
	dst.SetUserAgent([]byte("a longer user agent than the source's"))
	src.CopyTo(&dst)
	if got, want := string(dst.AppendJSON(nil)), string(src.AppendJSON(nil)); got != want {
		t.Errorf("copy encodes as\n%s\nwant\n%s", got, want)
	}
	if got, want := appendLogRecord(nil, &dst), appendLogRecord(nil, &src); string(got) != string(want) {
		t.Errorf("copy encodes in OTLP as %x, want %x", got, want)
	}
	dst.keyID, dst.path, dst.reqID, dst.ua, dst.method = src.keyID, src.path, src.reqID, src.ua, src.method
	if dst != src {
		t.Errorf("copy differs from its source outside the text arrays:\n%+v\nwant\n%+v", dst, src)
	}
}

// Every Limit has the name the metric portcullis_limiter_denials_total
// gives its scope, parses back from it, and is in a refusal's JSON and
// OTLP record; NoLimit is in neither.
func TestLimitNames(t *testing.T) {
	t.Parallel()
	want := map[Limit]string{NoLimit: "", LimitKey: "key", LimitTenant: "tenant", LimitClass: "class", LimitConcurrency: "concurrency", LimitTenantInFlight: "tenant_in_flight"}
	if len(want) != int(numLimits) {
		t.Fatalf("the test names %d limits, the type has %d", len(want), numLimits)
	}
	for l, name := range want {
		if got := l.String(); got != name {
			t.Errorf("Limit(%d).String() = %q, want %q", l, got, name)
		}
		if got, ok := ParseLimit(name); !ok || got != l {
			t.Errorf("ParseLimit(%q) = %d, %v; want %d", name, got, ok, l)
		}
		r := sampleRecord(0)
		r.Limit = l
		js, otlp := string(r.AppendJSON(nil)), string(appendLogRecord(nil, &r))
		if has := strings.Contains(js, `"limit":`); has != (name != "") || name != "" && !strings.Contains(js, `"decision":"allowed","limit":"`+name+`"`) {
			t.Errorf("limit %q: JSON %s", name, js)
		}
		if has := strings.Contains(otlp, AttrLimit); has != (name != "") {
			t.Errorf("limit %q: OTLP record has %s: %v", name, AttrLimit, has)
		}
	}
	if _, ok := ParseLimit("client"); ok {
		t.Error(`ParseLimit("client") succeeded: the metric and the record call the client's bucket "key"`)
	}
	if got := Limit(200).String(); got != "unknown" {
		t.Errorf("Limit(200).String() = %q, want unknown", got)
	}
}
