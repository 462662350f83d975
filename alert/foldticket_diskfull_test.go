//go:build linux

package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/tmpfs"
)

// TestFoldUpdateQueuedOnFullDisk: a folded alert's update falls due
// while the outbox's disk is full (a real tmpfs, filled), so it cannot be
// queued. Nothing already queued is lost (another sink's deliveries wait
// there, byte for byte), nothing is sent or recorded as told, and the
// failure is visible: each try is an error (OnError), counted in
// QueueFailures, and Unqueued, the metric saying a delivery waits to be
// written, is set while it waits (it said 0: only a ticket or a closure
// set it). Once there is room the update is queued by the running outbox,
// sent once and recorded with what it told, and every queued delivery
// reaches its sink.
func TestFoldUpdateQueuedOnFullDisk(t *testing.T) {
	t.Parallel()
	fs := tmpfs.Mount(t, 4<<20)
	clock := &simClock{}
	base := time.Now().UTC().Truncate(time.Second)
	clock.set(base)
	jira, other := newFoldJira(t), newFoldJira(t)
	other.up.Store(false)
	sinks := []*Sink{{Name: "jira", Kind: "jira", URL: jira.srv.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("bot:token")},
		{Name: "other", Kind: "jira", URL: other.srv.URL + "/rest/api/2/issue", Project: "OPS", secret: []byte("bot:token")}}
	dir := filepath.Join(fs, "tickets")
	var mu sync.Mutex
	var errs []error
	var box atomic.Pointer[Outbox]
	r := newRigWith(t, examplePolicy(t), enqueueInto(t, &box)) // the trail is on another disk, with room
	o, err := NewOutbox(OutboxConfig{Dir: dir, Sinks: sinks, Engine: r.eng, Key: r.key, Now: clock.now, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Minute,
		OnError: func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	box.Store(o)
	deliver := func(at time.Duration) {
		t.Helper()
		clock.set(base.Add(at))
		o.deliverDue(context.Background())
	}
	fold := noisyFolds(t, r, t0)
	fold(maxOpenPerRule + 1)
	deliver(0)
	a := r.eng.FoldedAlerts()[0]
	if len(a.Tickets) != 1 || a.Tickets[0].Sink != "jira" {
		t.Fatalf("folded alert tickets %+v, want its Jira issue (the other sink is down)", a.Tickets)
	}
	// The other sink's deliveries, accepted and queued.
	queued := map[string][]byte{}
	names, err := o.list()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if queued[n], err = os.ReadFile(filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	if len(queued) != maxOpenPerRule+1 {
		t.Fatalf("%d deliveries queued for the sink that is down, want %d", len(queued), maxOpenPerRule+1)
	}
	fold(400)
	filler := tmpfs.Fill(t, fs)
	mu.Lock()
	errs = nil
	mu.Unlock()
	before := o.Stats().QueueFailures
	for _, at := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute} {
		deliver(at)
	}
	comments := func() []string {
		jira.mu.Lock()
		defer jira.mu.Unlock()
		return append([]string(nil), jira.comments[a.Tickets[0].Key]...)
	}
	if c := comments(); len(c) != 0 {
		t.Errorf("comments %q sent while the update could not be queued", c)
	}
	if n := len(r.trailEvents(ActionTicketUpdate)); n != 0 {
		t.Errorf("%d alert.ticket_update events in the trail while nothing was told, want none", n)
	}
	st := o.Stats()
	mu.Lock()
	var enospc int
	for _, err := range errs {
		if errors.Is(err, syscall.ENOSPC) && strings.Contains(err.Error(), "cannot queue "+a.ID+` for "jira"`) {
			enospc++
		}
	}
	mu.Unlock()
	if enospc == 0 || st.QueueFailures <= before || !st.Unqueued {
		t.Errorf("the update could not be queued: %d errors naming it and ENOSPC, QueueFailures %d (was %d), Unqueued %v; want errors, more failures counted, Unqueued",
			enospc, st.QueueFailures, before, st.Unqueued)
	}
	for n, b := range queued {
		got, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil || string(got) != string(b) {
			t.Errorf("queued delivery %s changed on the full disk: %v", n, err)
		}
	}
	if names, _ := o.list(); len(names) != len(queued) {
		t.Errorf("%d deliveries queued on the full disk, want the %d accepted before", len(names), len(queued))
	}

	// Room again: the running outbox queues the update, sends it once
	// and records what it told; the other sink takes its deliveries.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	other.up.Store(true)
	deliver(4 * time.Minute)
	deliver(4*time.Minute + time.Second)
	if c := comments(); len(c) != 1 || !strings.Contains(c[0], "it folds 401 ") {
		t.Errorf("comments once there is room %q, want one telling 401 groups", c)
	}
	var told []string
	for _, ev := range r.trailEvents(ActionTicketUpdate) {
		var d map[string]string
		json.Unmarshal(ev.Details, &d)
		told = append(told, d["ticket"]+":"+d["folded"])
	}
	if fmt.Sprint(told) != fmt.Sprint([]string{a.Tickets[0].Key + ":401"}) {
		t.Errorf("the trail records the updates %v, want %s told 401", told, a.Tickets[0].Key)
	}
	if st := o.Stats(); st.Unqueued || o.Pending() != 0 {
		t.Errorf("once there is room: Unqueued %v, %d pending; want nothing waiting", st.Unqueued, o.Pending())
	}
	for _, x := range r.eng.Alerts() {
		if !hasTicket(&x, "other") {
			t.Errorf("alert %s has no ticket at the sink that was down", x.ID)
		}
	}
}
