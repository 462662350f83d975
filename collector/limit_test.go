package collector

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// limitRecords are a sidecar's records of requests each limit refused,
// and one of an admitted request (no limit), by request id.
func limitRecords(prefix string) []audit.Record {
	limits := []audit.Limit{audit.LimitKey, audit.LimitTenant, audit.LimitClass, audit.LimitConcurrency, audit.NoLimit}
	recs := make([]audit.Record, len(limits))
	for i, l := range limits {
		r := &recs[i]
		r.Time, r.Tenant, r.Client, r.Route = time.Now().UnixNano(), "acme", "acme-hris", "/v1/users"
		r.Status, r.Decision, r.Limit = 429, audit.RateLimited, l
		switch l {
		case audit.LimitConcurrency:
			r.Decision = audit.ConcurrencyLimited
		case audit.NoLimit:
			r.Status, r.Decision = 200, audit.Allowed
		}
		r.SetMethod([]byte("GET"))
		r.SetRequestID([]byte(prefix + "-" + l.String()))
	}
	return recs
}

// The limit that refused a request reaches the collector's store through
// both OTLP encodings (protobuf, as the sidecar sends, and JSON, as an
// OTLP exporter may), over a real collector, and reads back through
// QueryRecords, the JSON and table output of audit query and OCSF. A
// record without one (an admitted request, or a sidecar from before the
// field) reads back with none. Before, the store kept only rate_limited
// or concurrency_limited, and the attribute was a foreign one.
func TestRefusingLimitStoredAndQueried(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startNamedCollector(t, dir, newTestKey(t), Config{})
	if code := post(t, srv.URL, aliceToken, encodeBatch("pb-1", limitRecords("pb")...), false); code != http.StatusOK {
		t.Fatalf("protobuf batch: status %d, want 200", code)
	}
	var req logspb.LogsData
	if err := proto.Unmarshal(encodeBatch("json-1", limitRecords("json")...), &req); err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(&req)
	if err != nil {
		t.Fatal(err)
	}
	hr, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader(js))
	hr.Header.Set("Content-Type", FormatJSON)
	hr.Header.Set("Authorization", "Bearer "+aliceToken)
	if a := doRequest(t, hr); a.resp.StatusCode != http.StatusOK {
		t.Fatalf("JSON batch: status %d, body %s; want 200", a.resp.StatusCode, a.body)
	}
	st.Close()
	got := storedRecords(t, dir)
	if len(got) != 10 {
		t.Fatalf("stored %d records, want 10", len(got))
	}
	for _, r := range got {
		_, want, _ := strings.Cut(r.RequestID, "-")
		if r.Limit != want || len(r.Attributes) != 0 {
			t.Errorf("record %s: limit %q, attributes %v; want limit %q and no foreign attribute", r.RequestID, r.Limit, r.Attributes, want)
		}
		line := string(r.AppendJSON(nil))
		if has := strings.Contains(line, `"limit":`); has != (want != "") {
			t.Errorf("record %s as JSON: %s; want \"limit\":%q (none when empty)", r.RequestID, line, want)
		}
		if ocsf := string(AppendOCSF(nil, &r)); want != "" && !strings.Contains(ocsf, `"limit":"`+want+`"`) {
			t.Errorf("record %s as OCSF lacks its limit: %s", r.RequestID, ocsf)
		}
	}
	var table bytes.Buffer
	if _, err := WriteRecords(&table, dir, Filter{Decision: "rate_limited"}, OutputTable); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	if len(lines) != 7 || !strings.Contains(strings.Join(strings.Fields(lines[0]), " "), "DECISION LIMIT REQUEST_ID") {
		t.Fatalf("table of the rate_limited records:\n%s\nwant a LIMIT column and 6 rows", table.String())
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if id := f[len(f)-2]; f[len(f)-4] != "rate_limited" || !strings.HasSuffix(id, "-"+f[len(f)-3]) {
			t.Errorf("table row %q: want the decision, then the limit its request id names", l)
		}
	}
}

// A store written before the field (its records without "limit") reads as
// before: the fast decoder and encoding/json agree, and the limit is "".
func TestStoredRecordWithoutLimitReads(t *testing.T) {
	for _, body := range [][]byte{plainBody, plainBody2} {
		var fast entryBody
		if !decodeBatchBody(body, &fast) {
			t.Fatalf("fast decoder refused %s", body)
		}
		for _, r := range fast.Records {
			if r.Limit != "" {
				t.Errorf("record without a limit decoded with %q", r.Limit)
			}
		}
	}
}
