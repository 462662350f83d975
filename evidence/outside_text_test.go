package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/alert"
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

	const (
		tenant = "acme\u202e8 :tnuoc"
		client = "\u202a=HYPERLINK(\"http://attacker.example/\",\"ok\")"
		reqID  = "r-1\x1b[2J\x1b]0;owned\x07"
		pod    = "pod-a\u2067\u2066\u202e"
	)
	rig.sendLimitedThenRevoked(t, pod, tenant, client, "/v1/users\u2028x", reqID)
	res, p := rig.pack(t, pod)

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
