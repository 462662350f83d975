package alert

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestClientNetworksBounded: the networks a client was seen from are
// kept per client, and one client's key used from a new /64 on every
// request grew them without end (the collector's memory and its
// snapshot), as the sweep never dropped any though its doc says so. A
// client keeps at most maxClientNetworks, the most recent, and the sweep
// drops those older than every new_network rule's lookback.
func TestClientNetworksBounded(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	// The batches are stored after the last record's time: detection
	// counts a record at most at the time it was stored.
	r.now = func() time.Time { return t0.Add(32 * 24 * time.Hour) }
	r.restart()
	var recs []collector.StoredRecord
	for i := range 5000 {
		recs = append(recs, rec(t0.Add(time.Duration(i)*time.Millisecond), from(fmt.Sprintf("2001:db8:%x:%x::1", i/65536, i%65536))))
	}
	r.send(recs...)
	r.eng.mu.Lock()
	n := len(r.eng.networks["acme-hris"])
	r.eng.mu.Unlock()
	if n > maxClientNetworks {
		t.Errorf("acme-hris keeps %d networks, want at most %d", n, maxClientNetworks)
	}
	// 31 days later (past the example's lookback of 720h) another client
	// is seen; the sweep forgets acme-hris's networks.
	r.send(rec(t0.Add(31*24*time.Hour), func(s *collector.StoredRecord) { s.Client, s.Tenant, s.KeyID = "globex-bi", "globex", "globexbi1" }))
	r.eng.mu.Lock()
	r.eng.sweepLocked()
	_, kept := r.eng.networks["acme-hris"]
	r.eng.mu.Unlock()
	if kept {
		t.Error("the sweep kept networks last seen longer ago than any lookback")
	}
}
