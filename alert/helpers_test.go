package alert

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
)

// t0 is the start of every simulated clock in these tests.
var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// rig is a real audit store in a temporary directory wired to an engine
// the way the collector wires them: the store's OnStored hook feeds the
// engine, the engine's events are appended to the store.
type rig struct {
	t     *testing.T
	dir   string
	key   ed25519.PrivateKey
	doc   *policy.Document
	store *collector.Store
	eng   *Engine
	batch int
	opens []Alert
	// onOpen, when set before open, also gets every opened alert.
	onOpen func(Alert)
	// snap, when set before open, gives the engine a snapshot file and
	// starts it with Restore; stats are what Restore reported.
	snap   bool
	stats  ReplayStats
	segMax int64 // the store's SegmentMaxBytes; 0 the default
	// now, when set before open, is the store's clock: the time each
	// batch is stored, at or after which detection counts its records.
	now func() time.Time
}

func examplePolicy(t testing.TB) *policy.Document {
	t.Helper()
	d, err := policy.LoadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newRig(t *testing.T, doc *policy.Document) *rig {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, dir: t.TempDir(), key: key, doc: doc}
	r.open()
	return r
}

// newRigWith is newRig with onOpen hooked from the start.
func newRigWith(t *testing.T, doc *policy.Document, onOpen func(Alert)) *rig {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, dir: t.TempDir(), key: key, doc: doc, onOpen: onOpen}
	r.open()
	return r
}

// open opens the store and a new engine over it, rebuilding the engine's
// state from the trail as the collector does at start.
func (r *rig) open() {
	r.t.Helper()
	var eng *Engine
	store, err := collector.OpenStore(r.dir, collector.StoreConfig{SigningKey: r.key, Detection: lateHooks(&eng), SegmentMaxBytes: r.segMax, Now: r.now})
	if err != nil {
		r.t.Fatal(err)
	}
	cfg := Config{Policy: r.doc, Append: store.AppendEvents,
		OnOpen: func(a Alert) {
			r.opens = append(r.opens, a)
			if r.onOpen != nil {
				r.onOpen(a)
			}
		},
		OnError: func(err error) { r.t.Errorf("engine: %v", err) }}
	if r.snap {
		cfg.Snapshot, cfg.SnapshotKey = r.snapshotPath(), r.key
	}
	if eng, err = New(cfg); err != nil {
		r.t.Fatal(err)
	}
	if r.snap {
		r.stats, err = eng.Restore(r.dir)
	} else {
		err = eng.Replay(r.dir)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.store, r.eng = store, eng
	r.t.Cleanup(func() { r.store.Close() })
}

// lateHooks are the store hooks of an engine made after the store, as
// the collector makes it: nothing reaches the engine before it exists.
func lateHooks(eng **Engine) collector.Detection {
	return collector.Detection{
		Detect: func(seq uint64, recs []collector.StoredRecord, evs []collector.Event) []collector.Event {
			if *eng == nil {
				return nil
			}
			return (*eng).Detect(seq, recs, evs)
		},
		Commit: func(seq uint64, h [32]byte, ok bool) {
			if *eng != nil {
				(*eng).Commit(seq, h, ok)
			}
		},
		After: func() {
			if *eng != nil {
				(*eng).After()
			}
		},
	}
}

// snapshotPath is where the rig's engine keeps its snapshot.
func (r *rig) snapshotPath() string { return filepath.Join(r.dir, "detection", "snapshot.json") }

// restart closes the store and opens it again with a new engine.
func (r *rig) restart() {
	r.t.Helper()
	if err := r.store.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.open()
}

// send stores one batch of records.
func (r *rig) send(recs ...collector.StoredRecord) {
	r.t.Helper()
	r.batch++
	if err := r.store.AppendBatch(&collector.Batch{ID: fmt.Sprintf("b%d", r.batch), Sender: "token:test", Records: recs}); err != nil {
		r.t.Fatal(err)
	}
}

// event stores lifecycle events as the etcd forwarder does.
func (r *rig) event(evs ...collector.Event) {
	r.t.Helper()
	if err := r.store.AppendEvents(evs); err != nil {
		r.t.Fatal(err)
	}
}

// alerts returns the alerts of rule.
func (r *rig) alerts(rule string) []Alert {
	var out []Alert
	for _, a := range r.eng.Alerts() {
		if a.Rule == rule {
			out = append(out, a)
		}
	}
	return out
}

// trailEvents returns the stored events with the given action.
func (r *rig) trailEvents(action string) []collector.Event {
	r.t.Helper()
	var out []collector.Event
	err := collector.QueryEvents(r.dir, time.Time{}, time.Time{}, func(ev *collector.Event) error {
		if ev.Action == action {
			out = append(out, *ev)
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// simClock is a store clock a test sets: the time each batch or group of
// events is stored (the entry's time), which detection counts a record
// dated after at. Set it to a record's time to store the record when it
// says it was made.
type simClock struct{ ns atomic.Int64 }

func (c *simClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

func (c *simClock) now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// simulated gives r the store clock c, set to t, from its next open.
func (r *rig) simulated(t time.Time) *simClock {
	c := &simClock{}
	c.set(t)
	r.now = c.now
	return c
}

var reqSeq atomic.Int64

// rec is a stored record at t with the fields set by mods.
func rec(t time.Time, mods ...func(*collector.StoredRecord)) collector.StoredRecord {
	r := collector.StoredRecord{Time: t, Method: "GET", Route: "/v1/users", Path: "/v1/users", Status: 200, Decision: "allowed",
		RequestID: fmt.Sprintf("req-%06d", reqSeq.Add(1)), SourceIP: "10.1.2.3", Tenant: "acme", Client: "acme-hris", KeyID: "acmehris1", AuthMethod: "api_key"}
	for _, m := range mods {
		m(&r)
	}
	return r
}

// failed makes a record an authentication failure with key id keyID
// (the sidecar names no client or tenant for it).
func failed(keyID string) func(*collector.StoredRecord) {
	return func(r *collector.StoredRecord) {
		r.Status, r.Decision, r.Client, r.Tenant, r.KeyID = 401, "unauthenticated", "", "", keyID
	}
}

// probed makes a record a request refused tenant_mismatch: its path
// named another tenant than its verified client's.
func probed(r *collector.StoredRecord) {
	r.Status, r.Decision, r.Path = 403, "tenant_mismatch", "/v1/tenants/globex/users"
}

func from(ip string) func(*collector.StoredRecord) {
	return func(r *collector.StoredRecord) { r.SourceIP = ip }
}

func limited(r *collector.StoredRecord) { r.Status, r.Decision = 429, "rate_limited" }

func export(r *collector.StoredRecord) {
	r.Method, r.Route, r.Path, r.Client, r.KeyID = "POST", "/v1/exports", "/v1/exports", "acme-admin", "acmeadm1"
}

func bytesOut(n int64) func(*collector.StoredRecord) {
	return func(r *collector.StoredRecord) { r.BytesOut = n }
}

// every returns n records d apart from start.
func every(start time.Time, d time.Duration, n int, mods ...func(*collector.StoredRecord)) []collector.StoredRecord {
	out := make([]collector.StoredRecord, n)
	for i := range out {
		out[i] = rec(start.Add(time.Duration(i)*d), mods...)
	}
	return out
}

// enqueueInto is a rig's OnOpen that queues each alert in the outbox box
// holds (set once the outbox, which needs the rig's engine, is made).
func enqueueInto(t *testing.T, box *atomic.Pointer[Outbox]) func(Alert) {
	return func(a Alert) {
		if err := box.Load().Enqueue(a); err != nil {
			t.Errorf("Enqueue: %v", err)
		}
	}
}

// hold puts a in eng's alerts, as if the trail had opened it, for a test
// that enqueues alerts of its own: the outbox sends only the alerts the
// engine holds (TestOutboxSendsOnlyTheEnginesAlerts).
func hold(eng *Engine, a Alert) Alert {
	eng.mu.Lock()
	defer eng.mu.Unlock()
	c := a
	eng.alerts[a.ID] = &c
	return a
}
