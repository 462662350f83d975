package evidence

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// loadSeparately builds what load builds, the way the pack read the
// store before it read it once: the events, then the records, then the
// verification, each a pass of its own.
func loadSeparately(t *testing.T, cfg *Config) *builder {
	t.Helper()
	b := &builder{cfg: cfg}
	b.senders.quiet = cmp.Or(cfg.Silence, DefaultSilence)
	b.senders.max = newBounds(cfg.MaxPerSender, cfg.Period)
	var err error
	if b.inForce, b.doc, err = inForce(cfg.History, cfg.Period); err != nil {
		t.Fatal(err)
	}
	b.policyScan = scanPolicyText(cfg.History, b.inForce, b.doc, cfg.Period)
	p := cfg.Period
	var all []collector.Event
	err = collector.QueryEvents(cfg.DataDir, time.Time{}, time.Time{}, func(ev *collector.Event) error {
		all = append(all, *ev)
		if p.Contains(ev.Time) {
			b.events = append(b.events, *ev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.loadAlerts(all); err != nil {
		t.Fatal(err)
	}
	b.reviews = reviewEvents(all, p)
	b.approvalsBefore = decisionsBefore(all, p)
	b.keysBefore = keyEventsBefore(all, p)
	b.gaps = historyGaps(all, p)
	b.began = beganText(cfg.DataDir, cfg.VerifyKey, p)
	if err := b.checkSilence(); err != nil {
		t.Fatal(err)
	}
	if b.deleted, err = deletedIn(cfg.DataDir, cfg.VerifyKey, p); err != nil {
		t.Fatal(err)
	}
	b.tally = newTally(b)
	for i := range b.events {
		b.tally.addEvent(b, i, entryPos{})
	}
	err = collector.QueryRecords(cfg.DataDir, collector.Filter{From: p.From, To: p.To}, func(r *collector.StoredRecord) error {
		b.tally.add(b, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f := collector.Filter{From: p.From, To: p.To}
	err = collector.ScanEntries(cfg.DataDir, func(e *collector.Entry) error {
		if slices.ContainsFunc(e.Records, func(r collector.StoredRecord) bool { return f.Match(&r) }) {
			b.senders.add(e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var rep *collector.VerifyReport
	if cfg.VerifyKey != nil {
		if rep, err = collector.VerifyWith(cfg.DataDir, cfg.VerifyKey, collector.VerifyOptions{Now: cfg.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	b.verified = func() (*collector.VerifyReport, error) { return rep, nil }
	return b
}

// lateRevocation adds to activity's store a batch that reached the
// collector before the revocation it follows: acmeadm1 is revoked on May
// 20 at 09:00, and pod-d's denial of it at 09:05 is stored before the
// revocation's event.
func lateRevocation(t *testing.T, dir string, key ed25519.PrivateKey) {
	t.Helper()
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key, Retention: 400 * 24 * time.Hour, Now: sinceQ2})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 20, 9, 0, 0, 0, time.UTC)
	denied := collector.StoredRecord{Time: at.Add(5 * time.Minute), KeyID: "acmeadm1", Method: "PUT",
		Route: "/v1/admin/settings", Path: "/v1/admin/settings", Status: 401, Decision: "key_revoked", RequestID: "r-late"}
	if err := st.AppendBatch(&collector.Batch{ID: "late", Sender: "token:sidecar-4", Pod: "pod-d", Records: []collector.StoredRecord{denied}}); err != nil {
		t.Fatal(err)
	}
	revoke := collector.Event{Time: at, Key: "/p/events/late", Revision: 77, Actor: "alice", Action: "key.revoke", Target: "acmeadm1", Ticket: "SEC-77"}
	if err := st.AppendEvents([]collector.Event{revoke}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSinglePassMatchesSeparatePasses holds the pack's one read of the
// store to the three it made before (events, records, verification):
// the same events, alerts, counts and report, and every file the same
// to the byte, with and without a key, and with a denial stored before
// the revocation it follows.
func TestSinglePassMatchesSeparatePasses(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	activity(t, data, key)
	lateRevocation(t, data, key)
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2026-Q2")
	now := func() time.Time { return time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC) }
	for name, pub := range map[string]ed25519.PublicKey{"verified": key.Public().(ed25519.PublicKey), "no key": nil} {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Period: p, DataDir: data, History: hist, VerifyKey: pub, Now: now}
			one, err := load(&cfg)
			if err != nil {
				t.Fatal(err)
			}
			sep := loadSeparately(t, &cfg)
			if !reflect.DeepEqual(one.events, sep.events) || !reflect.DeepEqual(one.alerts, sep.alerts) {
				t.Errorf("events or alerts differ:\n one %v %v\n sep %v %v", one.events, one.alerts, sep.events, sep.alerts)
			}
			repOne, _ := one.verified()
			repSep, _ := sep.verified()
			if !reflect.DeepEqual(repOne, repSep) || (pub != nil && (repOne == nil || !repOne.OK())) {
				t.Errorf("verification differs:\n one %+v\n sep %+v", repOne, repSep)
			}
			one.tally.revokeAt, sep.tally.revokeAt = nil, nil
			if !reflect.DeepEqual(one.tally, sep.tally) {
				t.Errorf("tally differs:\n one %+v\n sep %+v", one.tally, sep.tally)
			}
			if len(one.tally.firstBy) < 2 {
				t.Errorf("first denials after revocations: %v, want acmehris1's and acmeadm1's", one.tally.firstBy)
			}
			for _, f := range files {
				a, errA := f.gen(one)
				b, errB := f.gen(sep)
				if errA != nil || errB != nil || !bytes.Equal(a, b) {
					t.Errorf("%s-%s differs (errors %v, %v):\n one:\n%s\n sep:\n%s", f.area, f.name, errA, errB, a, b)
				}
			}
			pageA, rowA := one.index(nil)
			pageB, rowB := sep.index(nil)
			if rowA != rowB || !bytes.Equal(pageA.data, pageB.data) {
				t.Error("index.html differs")
			}
		})
	}
}
