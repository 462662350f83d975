package evidence

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestPackCSVAndIndexKeepOutsideTextPrintable: a sender's records name
// the tenant, client, route, request id and pod as its sender wrote them
// (anyone holding a sender token). The pack's Markdown files made them
// printable text (alert.MarkdownText, strconv.Quote), but its CSV files
// and index.html copied them as they came: a right-to-left override in a
// tenant's name reversed the rest of its cell in the spreadsheet and its
// label in the tenant chart ("acme" then U+202E "8 :tnuoc" reads "count:
// 8" backwards), an escape sequence in a request id rewrote the
// terminal of an auditor who printed the file, and a formula behind a
// bidirectional mark ("U+202A=HYPERLINK(...)") began with no apostrophe.
// Every cell of every CSV file and every text of index.html is now
// plainText's: a control, bidirectional or line separator character is a
// space, and the formula then gets its apostrophe.
func TestPackCSVAndIndexKeepOutsideTextPrintable(t *testing.T) {
	t.Parallel()
	rig := newRevokedIntake(t)
	data, out, key, st, srv, revokedAt := rig.data, rig.out, rig.key, rig.st, rig.srv, rigRevokedAt
	const tok = rigToken

	const (
		tenant = "acme\u202e8 :tnuoc"
		client = "\u202a=HYPERLINK(\"http://attacker.example/\",\"ok\")"
		reqID  = "r-1\x1b[2J\x1b]0;owned\x07"
		pod    = "pod-a\u2067\u2066\u202e"
	)
	var limited audit.Record
	limited.Time = revokedAt.Add(-time.Hour).UnixNano()
	limited.Status, limited.Decision, limited.Limit = 429, audit.RateLimited, audit.LimitKey
	limited.Tenant, limited.Client, limited.Route = tenant, client, "/v1/users\u2028x"
	limited.SetMethod([]byte("GET"))
	limited.SetRequestID([]byte(reqID))
	var revoked audit.Record
	revoked.Time = revokedAt.Add(30 * time.Second).UnixNano()
	revoked.Status, revoked.Decision, revoked.Tenant = 401, audit.KeyRevoked, tenant
	revoked.SetMethod([]byte("GET"))
	revoked.SetKeyID([]byte("acmehris1"))
	revoked.SetRequestID([]byte(reqID))
	body := audit.EncodeBatch(nil, audit.Resource{Service: "svc", Host: "h", InstanceID: pod, Pod: pod}, "pod-a-1", limited, revoked)
	req, _ := http.NewRequest(http.MethodPost, rig.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", collector.FormatProtobuf)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("batch: %s", resp.Status)
	}
	srv.Close()
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	members := func(int64) ([]etcdadmin.MemberTrail, []string, error) {
		return []etcdadmin.MemberTrail{{Pod: pod, Versions: []etcdsync.Member{{Pod: pod, Revision: 41, Updated: revokedAt.Add(10 * time.Second)}}}}, nil, nil
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: out, SigningKey: key, Retention: "400d", Members: members})
	if err != nil {
		t.Fatal(err)
	}

	// The sender's texts reached the files checked below.
	throttling := readCSV(t, filepath.Join(res.Dir, FileName("APIRateLimits", "ThrottlingSample", p.Name, "csv")))
	found := false
	for _, row := range throttling {
		if row[0] == "sample_429" {
			found = true
			if !strings.HasPrefix(row[6], "'") {
				t.Errorf("the 429 sample's client cell %q is a formula behind a bidirectional mark, with no apostrophe", row[6])
			}
		}
	}
	if !found {
		t.Fatalf("no sample_429 row: %q", throttling)
	}
	files, err := filepath.Glob(filepath.Join(res.Dir, "*.csv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CSV file in %s: %v", res.Dir, err)
	}
	for _, f := range append(files, filepath.Join(res.Dir, IndexFile)) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, c := range line {
				if alert.Unprintable(c) {
					t.Errorf("%s:%d holds the character %U from the sender's records: %q", filepath.Base(f), i+1, c, line)
					break
				}
			}
		}
	}
}
