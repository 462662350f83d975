package alert

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// An Alertmanager label cut at maxLabelBytes in the middle of a UTF-8
// character was kept in memory with the half character, but stored in
// the trail as JSON, which turns it into U+FFFD: after a restart the
// replayed alert's key no longer matched, and the same fingerprint opened
// a second alert (and a second ticket). Labels are now cut at a character
// boundary, so memory and trail agree.
func TestAlertmanagerLabelCutAtCharacter(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("f", maxLabelBytes-1) + "é" // é's second byte is past the limit
	body := `{"version":"4","status":"firing","alerts":[{"status":"firing",
"labels":{"alertname":"TenantNoisyNeighbour","tenant":"` + long + `","severity":"warning"},
"startsAt":"2026-12-01T09:00:00Z","fingerprint":"` + long + `"}]}`
	r := newRig(t, examplePolicy(t))
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if _, err := r.eng.Alertmanager([]byte(body), now); err != nil {
		t.Fatal(err)
	}
	a := wantAlerts(t, r, "alertmanager:TenantNoisyNeighbour", 1)[0]
	if !utf8.ValidString(a.Key) || !utf8.ValidString(a.Tenant) || len(a.Key) > maxLabelBytes {
		t.Fatalf("alert key %q (%d bytes), tenant %q: want valid UTF-8 within %d bytes", a.Key, len(a.Key), a.Tenant, maxLabelBytes)
	}
	r.restart()
	if _, err := r.eng.Alertmanager([]byte(body), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if a := wantAlerts(t, r, "alertmanager:TenantNoisyNeighbour", 1)[0]; a.Count != 2 {
		t.Errorf("after a restart the same fingerprint gave count %d, want 2 on the one alert", a.Count)
	}
}
