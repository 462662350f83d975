package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestRevokedKeyAllowedAfterAnswersNo: key acmehris1 was revoked at 12:00
// and a sidecar denied it at 13:00, but a sidecar not live when
// the pack was made (no member record of it was checked) went on
// serving it: its record of 13:30 is the key allowed, authenticated by its
// own secret, an hour and a half after the revocation. The checklist
// answered "Can tokens be rotated and revoked quickly?" Yes (a denial
// after it, every live sidecar applied it), the store holding the record
// that shows it was not. The answer is No now, naming the key, when and
// the sidecar that allowed it, and the revocation file says so too.
func TestRevokedKeyAllowedAfterAnswersNo(t *testing.T) {
	data := t.TempDir()
	allowed := collector.StoredRecord{Time: time.Date(2026, 5, 10, 13, 30, 0, 0, time.UTC), Tenant: "acme", Client: "acme-hris", KeyID: "acmehris1",
		AuthMethod: "api_key", Method: "GET", Route: "/v1/users", Path: "/v1/users", Status: 200, Decision: "allowed", RequestID: "r-3"}
	revocationStore(t, data, keyDenial("key_revoked", "r-1"), allowed)
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: checklistKey, Owners: everyOwner, Now: now, Members: sidecars(false), Silence: 366 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		raw, err := os.ReadFile(filepath.Join(res.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	list := read(FileName("APIGovernance", "ISO27017Checklist", "2026-Q2", "md"))
	if got := answerOf(t, list, revokedQuestion); got != "No" {
		t.Errorf("a revoked key allowed 90 minutes after its revocation answered %s:\n%s", got, list)
	}
	if want := `ALLOWED AFTER REVOCATION: 1 revoked key(s) authenticated allowed requests after their revocation: "acmehris1" revoked 2026-05-10T12:00:00Z, allowed last 2026-05-10T13:30:00Z`; !strings.Contains(list, want) {
		t.Errorf("the checklist does not say %q:\n%s", want, list)
	}
	if want := "ALLOWED AFTER REVOCATION"; !warned(res, want) {
		t.Errorf("no warning says %q: %q", want, res.Warnings)
	}
	csv := read(FileName("APIAuth", "RevocationRecords", "2026-Q2", "csv"))
	if want := "ALLOWED AFTER REVOCATION: the key authenticated a request allowed at 2026-05-10T13:30:00Z by token:sidecar-1"; !strings.Contains(csv, want) {
		t.Errorf("the revocation file does not say %q:\n%s", want, csv)
	}
	// Within the grace of its revocation, a request is no proof.
	data = t.TempDir()
	allowed.Time = time.Date(2026, 5, 10, 12, 0, 30, 0, time.UTC)
	revocationStore(t, data, keyDenial("key_revoked", "r-1"), allowed)
	list, _ = packChecklistWith(t, data, "2026-Q2", sidecars(false))
	if got := answerOf(t, list, revokedQuestion); got != "Yes" {
		t.Errorf("a request 30s after the revocation answered %s:\n%s", got, list)
	}
}
