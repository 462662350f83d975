package audit_test

import (
	"strings"
	"testing"
	"time"

	. "github.com/portcullis/portcullis/audit"

	"github.com/rs/zerolog"
)

// The drop line said the records were "counted in
// portcullis_audit_dropped_total", but that is the data plane's count of
// records the emitter refused (slots full): records dropped at the spool
// never reach it, and it stayed 0 while the line reported them. They are
// counted in portcullis_audit_records_total{outcome="dropped"}, which the
// sidecar fills from Stats().Dropped; the line names that metric now.
func TestDropLineNamesTheMetricCountingSpoolDrops(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	log := zerolog.New(&logs)
	cfg := FastConfig("http://"+closedAddr(t), t.TempDir())
	cfg.SpoolMaxBytes, cfg.DropLogInterval, cfg.Log = 20<<10, time.Hour, &log
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// One at a time, each captured before the next: the slots never fill,
	// so whatever is dropped is dropped at the spool.
	for i := 0; e.Stats().DroppedSpool == 0; i++ {
		EmitN(t, e, 1)
		WaitFor(t, "the record spooled or dropped", func() bool { st := e.Stats(); return st.Spooled+st.DroppedSpool > uint64(i) })
	}
	e.Close()
	st := e.Stats()
	if st.DroppedFull != 0 || st.Dropped != st.DroppedSpool {
		t.Fatalf("%+v: want spool drops only, all in Dropped (outcome=\"dropped\")", st)
	}
	var lines []string
	for _, l := range logs.entries(t, "level", "warn") {
		if m, _ := l["message"].(string); strings.HasPrefix(m, "audit records dropped since the last such line") {
			lines = append(lines, m)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no drop line:\n%s", logs.String())
	}
	for _, m := range lines {
		if !strings.Contains(m, `counted in portcullis_audit_records_total{outcome="dropped"}`) ||
			strings.Contains(m, "counted in portcullis_audit_dropped_total") {
			t.Errorf("drop line %q: want it to name portcullis_audit_records_total{outcome=\"dropped\"} as where spool drops are counted, not portcullis_audit_dropped_total (which they never reach)", m)
		}
	}
}
