//go:build linux

package audit_test

import (
	"strings"
	"testing"

	. "github.com/portcullis/portcullis/audit"
	"github.com/rs/zerolog"
)

// An emitter closed while the collector is unreachable leaves its records
// in the spool, and says so: how many, and where. The sidecar stopped with
// "stopped" alone, exit 0, and a pod's emptyDir spool went with the pod.
func TestEmitterCloseNamesWhatTheSpoolHolds(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	log := zerolog.New(&logs)
	dir := t.TempDir()
	cfg := FastConfig("http://"+closedAddr(t), dir)
	cfg.Log = &log
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	EmitN(t, e, n)
	e.Close()
	st := e.Stats()
	if st.Delivered != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v: want nothing delivered (the collector's port is closed) nor dropped", st)
	}
	const msg = "audit records left in the spool"
	for _, l := range logs.entries(t, "level", "warn") {
		if m, _ := l["message"].(string); strings.HasPrefix(m, msg) {
			if l["records"] != float64(n) || l["spool"] != dir {
				t.Errorf("line %v: want records %d, spool %q", l, n, dir)
			}
			return
		}
	}
	t.Errorf("Close left %d records in the spool %s without a warn line %q; the log:\n%s", n, dir, msg, logs.String())
}
