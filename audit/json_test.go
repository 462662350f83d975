package audit

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// sampleRecord returns a filled record; i varies the request id and path.
func sampleRecord(i int) Record {
	var r Record
	r.Time = time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC).UnixNano() + int64(i)
	r.Duration = 1234567
	r.PolicyRevision = 42
	r.BytesIn, r.BytesOut = 100, 2048
	r.Status = 200
	r.Decision = Allowed
	r.AuthMethod = AuthAPIKey
	r.SourceIP = netip.MustParseAddr("10.1.2.3")
	r.Tenant, r.Client, r.Route = "acme", "crm-sync", "/v1/users/{id}"
	r.SetMethod([]byte("GET"))
	r.SetKeyID([]byte("key_01"))
	r.SetPath([]byte("/v1/users/" + string(rune('a'+i%26))))
	r.SetRequestID([]byte("req-0000" + string(rune('a'+i%26))))
	r.SetUserAgent([]byte("curl/8.5"))
	return r
}

var recordJSONFields = []string{"time", "tenant", "client", "key_id", "auth_method", "issuer",
	"token_fingerprint", "method", "route", "path", "status", "decision", "request_id",
	"source_ip", "bytes_in", "bytes_out", "duration_us", "user_agent", "policy_revision"}

func TestAppendJSONFields(t *testing.T) {
	t.Parallel()
	r := sampleRecord(0)
	r.TokenFingerprint = [16]byte{0xde, 0xad}
	var m map[string]any
	if err := json.Unmarshal(r.AppendJSON(nil), &m); err != nil {
		t.Fatalf("AppendJSON output does not parse: %v", err)
	}
	for k := range m {
		if !slices.Contains(recordJSONFields, k) {
			t.Errorf("unexpected field %q", k)
		}
	}
	want := map[string]any{"time": "2026-03-04T05:06:07.890123456Z", "tenant": "acme",
		"key_id": "key_01", "auth_method": "api_key", "method": "GET", "status": 200.0,
		"decision": "allowed", "source_ip": "10.1.2.3", "duration_us": 1234.0,
		"token_fingerprint": "dead0000000000000000000000000000", "policy_revision": 42.0}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("field %s: got %v, want %v", k, m[k], v)
		}
	}
	if len(m) != len(recordJSONFields) {
		t.Errorf("got %d fields, want %d", len(m), len(recordJSONFields))
	}
}

func TestAppendJSONOmitsZeroFingerprint(t *testing.T) {
	t.Parallel()
	r := sampleRecord(0)
	if got := string(r.AppendJSON(nil)); strings.Contains(got, "token_fingerprint") {
		t.Errorf("zero fingerprint emitted: %s", got)
	}
}

func TestAppendJSONEscapes(t *testing.T) {
	t.Parallel()
	hostile := "/a\"b\\c\n\r\t\x00\x1f</script>&\u2028\xff\xfe☃"
	r := sampleRecord(0)
	r.SetPath([]byte(hostile))
	r.SetUserAgent([]byte(hostile))
	r.Tenant = hostile
	out := r.AppendJSON(nil)
	for _, c := range out {
		if c < 0x20 {
			t.Fatalf("raw control byte %#x in output %q", c, out)
		}
	}
	if strings.ContainsAny(string(out), "<>&\u2028") {
		t.Errorf("unescaped HTML or line separator in %q", out)
	}
	var m map[string]string
	dec := map[string]any{}
	if err := json.Unmarshal(out, &dec); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	_ = m
	want := strings.ToValidUTF8(hostile, "\uFFFD")
	want = strings.Replace(want, "\uFFFD", "\uFFFD\uFFFD", 1) // two invalid bytes, two replacements
	for _, k := range []string{"path", "user_agent", "tenant"} {
		if got := dec[k]; got != want {
			t.Errorf("%s round trip: got %q, want %q", k, got, want)
		}
	}
}

func TestAppendJSONInvalidIP(t *testing.T) {
	t.Parallel()
	var r Record
	var m map[string]any
	if err := json.Unmarshal(r.AppendJSON(nil), &m); err != nil {
		t.Fatal(err)
	}
	if m["source_ip"] != "" || m["time"] != "1970-01-01T00:00:00Z" {
		t.Errorf("zero record: got source_ip %v time %v", m["source_ip"], m["time"])
	}
}
