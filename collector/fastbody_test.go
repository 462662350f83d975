package collector

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// seedBatchBody is a batch body as the store writes it, with every field
// of a record set.
func seedBatchBody(t testing.TB) []byte {
	s := &Store{cfg: StoreConfig{Now: func() time.Time { return time.Date(2026, 5, 1, 9, 0, 2, 0, time.UTC) }}}
	b := &Batch{ID: "b-1", Sender: "token:sidecar-1", Service: "hr", Host: "node-1", Instance: "i-1", Pod: "pod-a", Records: []StoredRecord{
		{Time: time.Date(2026, 5, 1, 9, 0, 0, 123456789, time.UTC), Tenant: "acme", Client: "acme-hris", KeyID: "acmehris1", AuthMethod: "api_key",
			Issuer: "https://idp", TokenFingerprint: "ab12", Method: "GET", Route: "/v1/users/{id}", Path: "/v1/users/7", Status: 200,
			Decision: "allowed", RequestID: "r-1", RequestIDSource: IDFromClient, SourceIP: "192.0.2.7", BytesIn: 10, BytesOut: 2048, DurationUS: 850, UserAgent: "sdk/1",
			PolicyRevision: 42, Count: 3, Body: "log body", ApprovalID: "ap-1", Attributes: map[string]string{"a": "1", "b": "2"}, Flags: []string{FlagTruncated}},
		{Time: time.Date(2026, 5, 1, 9, 0, 1, 0, time.UTC), Tenant: "acme", Client: "acme-hris", Method: "GET", Route: "/v1/users", Status: 429,
			Decision: "rate_limited", Limit: "tenant", UserAgent: "quote \" and é"},
	}}
	body, err := s.batchBodyLocked(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), body...)
}

var (
	plainBody  = []byte(`{"seq":7,"kind":"batch","time":"2026-05-01T09:00:00Z","batch_id":"b","sender":"s","service":"","host":"","instance":"","records":[{"time":"2026-05-01T09:00:00Z","tenant":"acme","status":200,"attributes":{"k":"v"},"flags":[]},{"time":"2026-05-01T09:00:01Z","tenant":"globex","client":"g","status":401}]}`)
	plainBody2 = []byte(`{"seq":8,"kind":"batch","time":"2026-05-01T09:00:02Z","batch_id":"c","sender":"s","records":[{"time":"2026-05-01T09:00:02Z","tenant":"acme","path":"/x","status":429}]}`)
)

// TestDecodeBatchBody checks the fast decoder's result against
// encoding/json's on a body the store writes, and that it leaves a body
// with escapes or unknown keys to encoding/json.
func TestDecodeBatchBody(t *testing.T) {
	body := seedBatchBody(t)
	var want, got entryBody
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatal(err)
	}
	if err := decodeBody(body, &got, nil); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeBody = %+v, %v;\nwant %+v", got, err, want)
	}
	var fast entryBody
	if decodeBatchBody(body, &fast) {
		t.Error("decodeBatchBody took a body with an escaped quote and non-ASCII text")
	}
	// A scan's buffers carry from one body to the next (QueryRecords).
	reuse := &bodyBuffers{}
	for _, body := range [][]byte{plainBody, plainBody2, plainBody} {
		var want, got entryBody
		json.Unmarshal(body, &want)
		if err := decodeBody(body, &got, reuse); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("decodeBody with reused buffers = %+v, %v;\nwant %+v", got, err, want)
		}
	}
	plain := []byte(`{"seq":7,"kind":"batch","time":"2026-05-01T09:00:00Z","batch_id":"b","sender":"s","service":"","host":"","instance":"","records":[{"time":"2026-05-01T09:00:00Z","tenant":"acme","status":200,"attributes":{"k":"v"},"flags":[]}]}`)
	if !decodeBatchBody(plain, &fast) || fast.Seq != 7 || len(fast.Records) != 1 || fast.Records[0].Attributes["k"] != "v" {
		t.Errorf("decodeBatchBody of a plain body = %+v", fast)
	}
	for _, bad := range []string{`{"seq":1,"kind":"batch","Tenant":"x"}`, `{"seq":1.5,"kind":"batch"}`, `{"seq":1,"kind":"batch","records":null}`} {
		if decodeBatchBody([]byte(bad), &fast) {
			t.Errorf("decodeBatchBody took %s", bad)
		}
	}
}

// TestDecodeBatchBodyTakesCounted: every entry the store writes after its
// first counted publication in etcd holds "counted":true (Store.counted);
// the fast decoders took no such body, so recovery, verify, queries and
// the pack decoded each of them with encoding/json.
func TestDecodeBatchBodyTakesCounted(t *testing.T) {
	for _, c := range []struct {
		body string
		want bool
	}{
		{`{"seq":7,"kind":"batch","time":"2026-05-01T09:00:00Z","durable_head":6,"counted":true,"batch_id":"b","sender":"s","records":[{"time":"2026-05-01T09:00:00Z","tenant":"acme","status":200}]}`, true},
		{`{"seq":7,"kind":"batch","counted": false,"records":[]}`, false},
	} {
		var fast, timed, slow entryBody
		var times []time.Time
		if !decodeBatchBody([]byte(c.body), &fast) || !decodeBatchTimes([]byte(c.body), &timed, &times) {
			t.Fatalf("the fast decoders left %s to encoding/json", c.body)
		}
		if err := json.Unmarshal([]byte(c.body), &slow); err != nil || !reflect.DeepEqual(fast, slow) || fast.Counted != c.want || timed.Counted != c.want {
			t.Errorf("%s: fast %+v, times' counted %v; encoding/json %+v, %v; want counted %v", c.body, fast, timed.Counted, slow, err, c.want)
		}
	}
	for _, bad := range []string{`{"seq":1,"kind":"batch","counted":tru}`, `{"seq":1,"kind":"batch","counted":1}`, `{"seq":1,"kind":"batch","counted":"true"}`, `{"seq":1,"kind":"batch","counted":truex}`} {
		var fast entryBody
		if decodeBatchBody([]byte(bad), &fast) {
			t.Errorf("decodeBatchBody took %s", bad)
		}
	}
}

// TestDecodeBatchBodyTakesRequestIDSource: a record whose request id the
// client sent holds "request_id_source":"client"; the fast decoders read
// it, rather than leave every batch holding one to encoding/json.
func TestDecodeBatchBodyTakesRequestIDSource(t *testing.T) {
	body := `{"seq":7,"kind":"batch","time":"2026-05-01T09:00:00Z","batch_id":"b","sender":"s","records":[` +
		`{"time":"2026-05-01T09:00:00Z","request_id":"0123abcd-0000000000000001","request_id_source":"client","status":200},` +
		`{"time":"2026-05-01T09:00:01Z","request_id":"9f8e7d6c-0000000000000002","status":200}]}`
	var fast, timed, slow entryBody
	var times []time.Time
	if !decodeBatchBody([]byte(body), &fast) || !decodeBatchTimes([]byte(body), &timed, &times) {
		t.Fatalf("the fast decoders left %s to encoding/json", body)
	}
	if err := json.Unmarshal([]byte(body), &slow); err != nil || !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast %+v; encoding/json %+v, %v", fast, slow, err)
	}
	if got := [2]IDSource{fast.Records[0].RequestIDSource, fast.Records[1].RequestIDSource}; got != [2]IDSource{IDFromClient, 0} {
		t.Errorf("request_id_source of the records = %v, want [IDFromClient, 0]", got)
	}
}

// FuzzDecodeBatchBody holds decodeBody to encoding/json: whenever the fast
// decoder takes a body, encoding/json decodes it to the same value.
func FuzzDecodeBatchBody(f *testing.F) {
	f.Add(seedBatchBody(f))
	f.Add([]byte(`{"seq":7,"kind":"batch","time":"2026-05-01T09:00:00Z","records":[{"time":"2026-05-01T09:00:00Z","tenant":"acme","status":-0,"flags":["a"]}]}`))
	f.Add([]byte(`{"seq":1,"kind":"batch","records":[{"attributes":{"a":"1"},"attributes":{"b":"2"}}]}`))
	f.Add([]byte(`{"seq":9,"kind":"batch","durable_head":8,"counted":true,"counted":false,"records":[]}`))
	// Keys are read without a check of their bytes, values eight bytes
	// at a time: escapes and special bytes in both, at each offset.
	f.Add([]byte(`{"seq":1,"kind":"batch","records":[{"attributes":{"a\\":"1","\u0061":"x"},"user_agent":"12345678\\9"}]}`))
	f.Add([]byte(`{"seq":1,"ki\u006ed":"batch","records":[{"te\"nant":"x","path":"/v1/\u00e9t\u00e9s","request_id":"abcdefgh\tijklmnop"}]}`))
	f.Add([]byte("{\"seq\":1,\"kind\":\"batch\",\"records\":[{\"path\":\"abcdefg\x7fhijklmnop\x80q\",\"method\":\"GET\x01\"}]}"))
	// Numbers read digit by digit up to 18 digits, by strconv beyond; a
	// field read as the record before's.
	f.Add([]byte(`{"seq":123456789012345678,"kind":"batch","records":[{"status":-999999999999999999,"bytes_in":9223372036854775807,"bytes_out":-9223372036854775808,"count":9223372036854775808,"method":"GET"},{"method":"GET","tenant":"a"},{"method":"PUT","tenant":"a"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast, slow, timed entryBody
		var times []time.Time
		ok, okTimes := decodeBatchBody(body, &fast), decodeBatchTimes(body, &timed, &times)
		if ok != okTimes {
			t.Fatalf("%q: decodeBatchBody %v, decodeBatchTimes %v", body, ok, okTimes)
		}
		if !ok {
			return
		}
		if !reflect.DeepEqual(timed.entryHeader, fast.entryHeader) || len(times) != len(fast.Records) {
			t.Fatalf("%q: decodeBatchTimes header %+v, %d times; want %+v, %d", body, timed.entryHeader, len(times), fast.entryHeader, len(fast.Records))
		}
		for i := range times {
			if !times[i].Equal(fast.Records[i].Time) {
				t.Fatalf("%q: time %d = %v, want %v", body, i, times[i], fast.Records[i].Time)
			}
		}
		if err := json.Unmarshal(body, &slow); err != nil {
			t.Fatalf("fast decoder took %q, encoding/json refused it: %v", body, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast %+v\njson %+v", body, fast, slow)
		}
	})
}

// TestDecodeBatchBodyTakesReplay: the entry of a batch a replay stored
// holds "replay" (appendReplay); the fast decoders read it, rather than
// leave every such batch to encoding/json.
func TestDecodeBatchBodyTakesReplay(t *testing.T) {
	body := string(appendReplay([]byte(`{"seq":7,"kind":"batch","time":"2026-05-01T09:00:00Z","batch_id":"i-3","sender":"s"`), 0xa1)) +
		`,"records":[{"time":"2026-05-01T09:00:00Z","tenant":"acme","status":200}]}`
	var fast, timed, slow entryBody
	var times []time.Time
	if !decodeBatchBody([]byte(body), &fast) || !decodeBatchTimes([]byte(body), &timed, &times) {
		t.Fatalf("the fast decoders left %s to encoding/json", body)
	}
	if err := json.Unmarshal([]byte(body), &slow); err != nil || !reflect.DeepEqual(fast, slow) || fast.Replay != "00000000000000a1" {
		t.Errorf("%s: fast %+v; encoding/json %+v, %v", body, fast, slow, err)
	}
}
