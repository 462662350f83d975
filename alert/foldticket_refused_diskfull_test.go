//go:build linux

package alert

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/tmpfs"
)

// TestFoldUpdateRefusedWhileDiskFull: the sink refuses an update for
// good (the issue deleted) while the disk holding the trail and the
// outbox is full, so neither the refusal's record nor the queued file
// saying so can be written. The retry took the file as it was queued and
// recorded the update as told, with no "refused" and the number of
// groups of when it was queued (401, where the update sent said 501):
// the trail said the ticket was told what it was not. The outbox now keeps
// what it sent and why it was refused, and records that once there is
// room.
func TestFoldUpdateRefusedWhileDiskFull(t *testing.T) {
	t.Parallel()
	fs := tmpfs.Mount(t, 4<<20)
	clock := &simClock{}
	base := time.Now().UTC().Truncate(time.Second)
	clock.set(base)
	var up, issues atomic.Int64
	var refusals atomic.Int64
	up.Store(1)
	jira := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case up.Load() == 0:
			http.Error(w, "down", http.StatusServiceUnavailable)
		case r.Method == http.MethodPost && r.URL.Path == "/rest/api/2/issue":
			json.NewEncoder(w).Encode(map[string]string{"key": fmt.Sprint("SEC-", issues.Add(1))})
		case strings.HasSuffix(r.URL.Path, "/comment"):
			refusals.Add(1)
			http.Error(w, `{"errorMessages":["Issue does not exist or you do not have permission to see it."]}`, http.StatusNotFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer jira.Close()
	sinks := []*Sink{{Name: "jira", Kind: "jira", URL: jira.URL + "/rest/api/2/issue", Project: "SEC", secret: []byte("bot:token")}}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var box atomic.Pointer[Outbox]
	r := &rig{t: t, dir: filepath.Join(fs, "audit"), key: key, doc: examplePolicy(t), onOpen: enqueueInto(t, &box)}
	r.open()
	o, err := NewOutbox(OutboxConfig{Dir: filepath.Join(fs, "tickets"), Sinks: sinks, Engine: r.eng, Key: r.key, Now: clock.now, MinBackoff: time.Millisecond,
		MaxBackoff: 5 * time.Minute, OnError: func(error) {}})
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
	id := r.eng.FoldedAlerts()[0].ID
	fold(400)
	up.Store(0)
	deliver(time.Minute) // queued, telling 401; Jira down
	if o.Pending() != 1 {
		t.Fatalf("%d deliveries queued, want the update", o.Pending())
	}
	fold(100) // 501 by the time it is sent
	filler := tmpfs.Fill(t, fs)
	for _, n := range []int{512, 64, 0} { // the segment's last page takes a few events: fill it too
		pad := collector.Event{Time: t0, Actor: "t", Action: "t.pad", Target: "x", Reason: strings.Repeat("p", n)}
		for i := 0; r.store.AppendEvents([]collector.Event{pad}) == nil; i++ {
			if i > 1000 {
				t.Fatal("events still stored on a full disk")
			}
			pad.Target += "x"
		}
	}
	up.Store(1)
	for s := 1; s <= 5; s++ {
		deliver(time.Minute + time.Duration(s)*time.Second)
	}
	if n := refusals.Load(); n != 1 {
		t.Fatalf("Jira refused %d updates, want 1: the refusal is not sent again", n)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deliver(time.Minute + 10*time.Second)
	var got []string
	for _, ev := range r.trailEvents(ActionTicketUpdate) {
		if ev.Target != id {
			continue
		}
		var d map[string]string
		json.Unmarshal(ev.Details, &d)
		got = append(got, fmt.Sprintf("folded %s refused %v", d["folded"], d["refused"] != ""))
	}
	sort.Strings(got)
	if want := []string{"folded 501 refused true"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the trail records the update as %v, want %v: what was sent, refused", got, want)
	}
	if o.Pending() != 0 || refusals.Load() != 1 {
		t.Errorf("%d pending, %d refusals, want none pending and the one refusal", o.Pending(), refusals.Load())
	}
}
