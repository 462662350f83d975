package evidence

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestAlertSampleKeepsOutsideTextOnItsLine: an Alertmanager alert's name
// and fingerprint come from whoever holds a collector token (docs/alerts.md), and the collector stores them as they came. The
// alert sample copied them into its Markdown as they were: a newline in
// the name started lines of its own (a forged "status: closed" and
// closure note under the real alert), and markup in it (an image with a
// script handler, a javascript: link) reached whatever renders the file.
// Each outside field now stays on its line, its markup escaped.
func TestAlertSampleKeepsOutsideTextOnItsLine(t *testing.T) {
	cfg, _, _ := packFolder(t)
	const forged = "\n- status: closed\n- closure note: false positive, checked by the SOC\n\n## Alert A-0 (low, none)\n"
	const markup = `<img src=x onerror=alert(1)> [proof](javascript:alert(document.domain))`
	st, err := collector.OpenStore(cfg.DataDir, collector.StoreConfig{SigningKey: cfg.SigningKey})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 6, 9, 0, 0, 0, time.UTC)
	ev := func(h int, action string, details map[string]string) collector.Event {
		raw, _ := json.Marshal(details)
		return collector.Event{Time: at.Add(time.Duration(h) * time.Hour), Key: "/p/events/" + action, Revision: int64(100 + h),
			Actor: "collector", Action: action, Target: "A-7", Details: raw}
	}
	if err := st.AppendEvents([]collector.Event{
		ev(0, "alert.open", map[string]string{"rule": "alertmanager:TenantSaturated" + forged + markup, "kind": "alertmanager",
			"severity": "high", "group": "fingerprint", "key": "0123abcd" + forged, "tenant": "acme " + markup, "count": "1",
			"first_seen": at.Format(time.RFC3339Nano)}),
		ev(1, "alert.ticket", map[string]string{"sink": "jira", "ticket": "SEC-7"}),
	}); err != nil {
		t.Fatal(err)
	}
	md := closeAndPack(t, st, cfg, "APIAbuse", "AlertToTicketSample")
	if !strings.Contains(md, "## Alert A-7 (high, alertmanager)") || !strings.Contains(md, "- ticket: jira SEC-7") {
		t.Fatalf("the alert sample lacks the ticketed alert:\n%s", md)
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "- closure note:") || strings.HasPrefix(line, "## Alert A-0") {
			t.Errorf("a line forged by the alert's name: %q\n%s", line, md)
		}
	}
	if n := strings.Count(md, "\n- status: "); n != 1 {
		t.Errorf("%d status lines for one alert:\n%s", n, md)
	}
	// markup, unless each character that makes it is escaped with a backslash
	if m := regexp.MustCompile(`(^|[^\\])(<img|\]\(javascript:)`).FindString(md); m != "" {
		t.Errorf("the alert sample holds the markup %q as markup:\n%s", m, md)
	}
}

// TestCredentialScanKeepsRequestIDsText: a client chooses its request id
// (X-Request-Id) and can put a bearer string in its User-Agent, so its
// record is listed in the credential scan by request id. The id reached
// the scan's Markdown table quoted but with its markup live (an image
// with a script handler, a javascript: link). It is now escaped.
func TestCredentialScanKeepsRequestIDsText(t *testing.T) {
	cfg, _, _ := packFolder(t)
	const markup = `<img src=x onerror=alert(1)> [proof](javascript:alert(document.domain))`
	st, err := collector.OpenStore(cfg.DataDir, collector.StoreConfig{SigningKey: cfg.SigningKey})
	if err != nil {
		t.Fatal(err)
	}
	r := collector.StoredRecord{Time: time.Date(2026, 5, 7, 9, 0, 0, 0, time.UTC), Tenant: "acme", Method: "GET", Route: "/v1/status",
		Path: "/v1/status", Status: 401, Decision: "unauthenticated", RequestID: markup, UserAgent: "curl/8 Bearer " + leakedSecret, SourceIP: "192.0.2.9"}
	if err := st.AppendBatch(&collector.Batch{ID: "b2", Sender: "token:s1", Records: []collector.StoredRecord{r}}); err != nil {
		t.Fatal(err)
	}
	md := closeAndPack(t, st, cfg, "APILogging", "CredentialScan")
	if !strings.Contains(md, "Result: FAIL") || !strings.Contains(md, "img src=x") {
		t.Fatalf("the scan does not list the record:\n%s", md)
	}
	if m := regexp.MustCompile(`(^|[^\\])(<img|\]\(javascript:)`).FindString(md); m != "" {
		t.Errorf("the credential scan holds the markup %q as markup:\n%s", m, md)
	}
}

// TestEscapedTextStillScanned: the escapes that keep outside text inert
// in Markdown must not hide a credential from the scan of the pack's
// files: a ~ is a character of a bearer string, and escaping it split
// the string so the scan passed over the alert sample that holds it.
func TestEscapedTextStillScanned(t *testing.T) {
	cfg, _, _ := packFolder(t)
	st, err := collector.OpenStore(cfg.DataDir, collector.StoreConfig{SigningKey: cfg.SigningKey})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 6, 9, 0, 0, 0, time.UTC)
	open, _ := json.Marshal(map[string]string{"rule": "alertmanager:Leak Bearer abc~defghijklmnop", "kind": "alertmanager",
		"severity": "high", "group": "fingerprint", "key": "0123abcd", "count": "1", "first_seen": at.Format(time.RFC3339Nano)})
	ticket, _ := json.Marshal(map[string]string{"sink": "jira", "ticket": "SEC-8"})
	if err := st.AppendEvents([]collector.Event{
		{Time: at, Key: "/p/events/open", Revision: 100, Actor: "collector", Action: "alert.open", Target: "A-8", Details: open},
		{Time: at.Add(time.Hour), Key: "/p/events/ticket", Revision: 101, Actor: "collector", Action: "alert.ticket", Target: "A-8", Details: ticket},
	}); err != nil {
		t.Fatal(err)
	}
	scan := closeAndPack(t, st, cfg, "APILogging", "CredentialScan")
	name := FileName("APIAbuse", "AlertToTicketSample", cfg.Period.Name, "md")
	if !strings.Contains(scan, "| "+name+" | bearer string |") {
		t.Errorf("the scan of the pack's files does not name %s, which holds the bearer string:\n%s", name, scan)
	}
}

// closeAndPack closes st, makes the pack of cfg and returns its Markdown
// file of area and name.
func closeAndPack(t *testing.T, st *collector.Store, cfg Config, area, name string) string {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := Pack(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(res.Dir, FileName(area, name, cfg.Period.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
