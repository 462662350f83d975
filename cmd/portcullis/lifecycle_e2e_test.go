package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/examples/upstream"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// offsetClock is a simulated clock: the real time moved by an offset.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// setTo moves the clock so that it reads t now.
func (c *offsetClock) setTo(t time.Time) { c.off.Store(int64(time.Until(t))) }

// TestKeyAgeAcrossSidecars is issue 20's max_key_age end to end: a real
// etcd in process, a key made by keys create under a 30-day max_key_age,
// and two sidecars watching etcd that judge key ages by a simulated
// clock, served over real HTTP. The key_rotation rule (fed the lifecycle
// events from etcd) and both sidecars' portcullis_keys_rotation_due
// warn a week before the age while the key still works; from the instant
// the clock crosses the age, the very first request on each sidecar is
// refused with 401 key_expired_by_policy, audited with that reason, with
// no new policy revision.
func TestKeyAgeAcrossSidecars(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	const prefix = "/lifecycle-e2e"
	emb, admin := etcdAdmin(t, prefix)
	raw, _ := os.ReadFile(examplePolicy)
	raw = bytes.Replace(raw, []byte("max_key_age: 87600h\n  rotation_warning: 720h"), []byte("max_key_age: 720h\n  rotation_warning: 168h"), 1)
	ctx := context.Background()
	meta := etcdadmin.Meta{Actor: "e2e", Reason: "test", Ticket: "CHG-20"}
	if _, err := admin.PushPolicy(ctx, raw, 0, meta); err != nil {
		t.Fatal(err)
	}
	doc, err := policy.Load("policy.yaml", raw)
	if err != nil || doc.Lifecycle.MaxKeyAge != "720h" {
		t.Fatalf("policy: %v, lifecycle %+v", err, doc.Lifecycle)
	}
	key, spec, err := admin.CreateKey(ctx, "globex-bi", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	born, _ := time.Parse(time.RFC3339, spec.CreatedAt)
	limit := born.Add(720 * time.Hour)
	warnAt := limit.Add(-168 * time.Hour)

	clock := &offsetClock{}
	runCtx, cancel := context.WithCancel(ctx)
	upAddr := freeAddrTB(t)
	up := &fasthttp.Server{Handler: upstream.Handler}
	go up.ListenAndServe(upAddr)
	type pod struct{ listen, admin, audit string }
	var pods []pod
	var wg sync.WaitGroup
	for _, name := range []string{"pod-a", "pod-b"} {
		p := pod{freeAddrTB(t), freeAddrTB(t), filepath.Join(data, name, "audit.jsonl")}
		pods = append(pods, p)
		if err := os.MkdirAll(filepath.Dir(p.audit), 0o700); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := sidecar(runCtx, sidecarFlags{listen: p.listen, upstream: upAddr, admin: p.admin, auditFile: p.audit,
				spoolDir: filepath.Join(data, name, "spool"), stateDir: filepath.Join(data, name, "state"),
				etcd: etcdConnFlags{endpoints: strings.Join(emb.Endpoints(), ","), prefix: prefix}, pod: name, drain: time.Second,
				keyClock: clock.now}, zerolog.Nop())
			if err != nil {
				t.Errorf("sidecar %s: %v", name, err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait(); up.Shutdown() })

	url := func(p pod) string { return "http://" + p.listen + "/v1/reports/7" }
	for _, p := range pods {
		poll(t, "sidecar "+p.listen+" admits the new key", func() bool { return status(url(p), key) == 200 })
	}

	// The alert engine, fed the lifecycle events from etcd as the
	// collector's trail holds them.
	eng, err := alert.New(alert.Config{Policy: doc})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := admin.ListEvents(ctx, time.Time{}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	eng.Observe(nil, trailEvents(evs))
	warned := func() (alert.Alert, bool) {
		for _, a := range eng.Alerts() {
			if a.Kind == alert.KindKeyRotation && a.KeyID == spec.ID {
				return a, true
			}
		}
		return alert.Alert{}, false
	}
	rotationDue := func(p pod) float64 {
		return value(scrapeFamilies(t, p.admin), "portcullis_keys_rotation_due")
	}
	revisions := func() []float64 {
		var out []float64
		for _, p := range pods {
			out = append(out, value(scrapeFamilies(t, p.admin), "portcullis_policy_revision"))
		}
		return out
	}

	// A minute before the warning: no alert, nothing due, the key works.
	clock.setTo(warnAt.Add(-time.Minute))
	eng.Tick(clock.now())
	if a, ok := warned(); ok {
		t.Fatalf("alert before the warning: %+v", a)
	}
	for _, p := range pods {
		if got := rotationDue(p); got != 0 {
			t.Errorf("%s: portcullis_keys_rotation_due = %v before the warning, want 0", p.listen, got)
		}
	}

	// Inside the warning: the alert and the metric, the key still works.
	clock.setTo(warnAt.Add(time.Minute))
	eng.Tick(clock.now())
	a, ok := warned()
	if !ok || !a.Opened.Before(limit) || a.Client != "globex-bi" {
		t.Fatalf("rotation alert = %+v (fired %t), want one for globex-bi before %s", a, ok, limit)
	}
	for _, p := range pods {
		if got := rotationDue(p); got != 1 {
			t.Errorf("%s: portcullis_keys_rotation_due = %v in the warning, want 1", p.listen, got)
		}
		if got := status(url(p), key); got != 200 {
			t.Errorf("%s: status %d in the warning, want 200 (the warning comes first)", p.listen, got)
		}
	}

	// A second before the age the key works; from the age on, the very
	// first request on each sidecar is refused, with no policy change.
	clock.setTo(limit.Add(-time.Second))
	for _, p := range pods {
		if got := status(url(p), key); got != 200 {
			t.Errorf("%s: status %d a second before the age, want 200", p.listen, got)
		}
	}
	before := revisions()
	clock.setTo(limit)
	for _, p := range pods {
		if got := status(url(p), key); got != 401 {
			t.Errorf("%s: first request past the age = %d, want 401", p.listen, got)
		}
	}
	if after := revisions(); !equalFloats(before, after) {
		t.Errorf("policy revisions %v -> %v: the refusal must need no new snapshot", before, after)
	}
	for _, p := range pods {
		poll(t, p.listen+" audits key_expired_by_policy", func() bool { return audited(t, p.audit, spec.ID, "key_expired_by_policy") })
	}
}

// trailEvents converts lifecycle events read from etcd to the collector's
// stored form, as the collector's forwarder stores them.
func trailEvents(evs []etcdadmin.Event) []collector.Event {
	out := make([]collector.Event, 0, len(evs))
	for _, ev := range evs {
		d, _ := json.Marshal(ev.Details)
		out = append(out, collector.Event{Time: ev.Time, Key: ev.Key, Revision: ev.Revision, Actor: ev.Actor, Action: ev.Action,
			Target: ev.Target, Reason: ev.Reason, Ticket: ev.Ticket, Details: d})
	}
	return out
}

// audited reports whether the audit file holds a record of key id with
// the decision.
func audited(t *testing.T, path, id, decision string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			KeyID    string `json:"key_id"`
			Decision string `json:"decision"`
			Status   int    `json:"status"`
		}
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.KeyID == id && r.Decision == decision && r.Status == 401 {
			return true
		}
	}
	return false
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
