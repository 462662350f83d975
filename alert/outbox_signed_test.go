package alert

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// signedRig is an alert queued for a webhook that is down, with the
// outbox's errors kept: the file an editor of the data directory edits.
type signedRig struct {
	*rig
	rcv  *receiver
	o    *Outbox
	file string // the alert's queued opening
	id   string

	mu   sync.Mutex // guards the following field
	errs []string
}

func newSignedRig(t *testing.T) *signedRig {
	t.Helper()
	secret := []byte("s3cret-for-the-test")
	s := &signedRig{rcv: newReceiver(t, secret)}
	dir := filepath.Join(t.TempDir(), "tickets")
	sinks := []*Sink{{Name: "secops", Kind: "webhook", URL: s.rcv.srv.URL, secret: secret}}
	s.rig = newRigWith(t, examplePolicy(t), func(a Alert) {
		if err := s.o.Enqueue(a); err != nil {
			t.Errorf("Enqueue: %v", err)
		}
	})
	o, err := NewOutbox(OutboxConfig{Dir: dir, Sinks: sinks, Engine: s.eng, Key: s.key, MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		OnError: func(err error) {
			s.mu.Lock()
			s.errs = append(s.errs, err.Error())
			s.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.o = o
	s.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	s.id = wantAlerts(t, s.rig, "token-guessing-client", 1)[0].ID
	s.file = filepath.Join(dir, s.id+"~secops.json")
	if _, err := os.Stat(s.file); err != nil {
		t.Fatalf("the alert's delivery is not queued: %v", err)
	}
	return s
}

// edit replaces old by new in the queued file, as an editor of the data
// directory does.
func (s *signedRig) edit(old, new string) {
	s.t.Helper()
	b, err := os.ReadFile(s.file)
	if err != nil {
		s.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		s.t.Fatalf("the queued file holds no %q: %s", old, b)
	}
	if err := os.WriteFile(s.file, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// run brings the sink up and runs the outbox until the alert's ticket is
// recorded and nothing is queued.
func (s *signedRig) run() Alert {
	s.t.Helper()
	s.rcv.up.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.o.Run(ctx) }()
	s.t.Cleanup(func() { cancel(); <-done })
	waitFor(s.t, "the alert's ticket", func() bool { a, _ := s.eng.Alert(s.id); return hasTicket(&a, "secops") })
	waitFor(s.t, "the outbox empty", func() bool { return s.o.Pending() == 0 })
	a, _ := s.eng.Alert(s.id)
	return a
}

// errorsNaming returns the outbox's error lines that name the file.
func (s *signedRig) errorsNaming(file string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.errs {
		if strings.Contains(e, file) {
			out = append(out, e)
		}
	}
	return out
}

// TestOutboxEditedSentIsRefused: a queued file's "sent", the ticket key
// the sink answered, was believed as written: whoever could write the
// data directory set it, and the outbox recorded that key in the trail
// without sending (the sink never heard of the alert), and the alert's
// closure then went to that ticket, someone else's, under the sink's
// credential. Queued files are now signed with the collector's key; an
// edited one is refused by name, not sent, and queued again from the
// trail.
func TestOutboxEditedSentIsRefused(t *testing.T) {
	t.Parallel()
	s := newSignedRig(t)
	const other = "SEC-SOMEONE-ELSES"
	s.edit(`"sink":"secops"`, `"sink":"secops","sent":"`+other+`"`)
	a := s.run()
	for _, tk := range a.Tickets {
		if tk.Key == other {
			t.Fatalf("the trail records ticket %q, which the edited file named, as the alert's: %+v", other, a.Tickets)
		}
	}
	s.rcv.mu.Lock()
	got := len(s.rcv.got)
	s.rcv.mu.Unlock()
	if got != 1 {
		t.Errorf("the sink got %d deliveries, want the alert's one", got)
	}
	lines := s.errorsNaming(s.file)
	if len(lines) == 0 {
		t.Errorf("no error line names the edited file %q: %q", s.file, s.errs)
	}
	for _, l := range lines {
		if strings.Contains(l, other) {
			t.Errorf("the error line quotes the file's content: %s", l)
		}
	}
}

// TestOutboxUnsignedSentNotBelieved: a file queued by a collector before
// queued files were signed holds no signature; nothing it says is
// believed (anyone could have written it): it is reported once and
// removed, and the delivery the trail lacks is queued again and sent.
func TestOutboxUnsignedSentNotBelieved(t *testing.T) {
	t.Parallel()
	s := newSignedRig(t)
	q, err := s.o.readQueued(filepath.Base(s.file), s.file)
	if err != nil {
		t.Fatal(err)
	}
	q.Sent = "SEC-OLDER-RELEASE"
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	a := s.run()
	if len(a.Tickets) != 1 || a.Tickets[0].Key == q.Sent {
		t.Fatalf("tickets %+v; want the one the sink answered", a.Tickets)
	}
	lines := s.errorsNaming(s.file)
	if len(lines) != 1 || !strings.Contains(lines[0], "not sent, removed") {
		t.Errorf("error lines naming the unsigned file: %q; want one saying it was removed", lines)
	}
}

// TestOutboxRenamedFileIsRefused: a signed file moved to another
// delivery's name is refused, as the outbox keeps state by name.
func TestOutboxRenamedFileIsRefused(t *testing.T) {
	t.Parallel()
	s := newSignedRig(t)
	moved := strings.TrimSuffix(s.file, ".json") + "~close-0000000000000000.json"
	if err := os.Rename(s.file, moved); err != nil {
		t.Fatal(err)
	}
	s.run()
	if len(s.errorsNaming(moved)) == 0 {
		t.Errorf("no error line names the renamed file %q: %q", moved, s.errs)
	}
}

// TestOutboxOlderSignedFilePutBackRecordsNothing: a signed queued file
// kept from when the trail could not record what the sink answered (its
// "sent" set), put back after the ticket was recorded, recorded the
// ticket a second time.
func TestOutboxOlderSignedFilePutBackRecordsNothing(t *testing.T) {
	t.Parallel()
	s := newSignedRig(t)
	a := s.run()
	if err := s.o.writeQueued(queued{Alert: a, Sink: "secops", Sent: a.Tickets[0].Key}, s.file); err != nil {
		t.Fatal(err)
	}
	s.o.poke()
	waitFor(t, "the outbox empty again", func() bool { return s.o.Pending() == 0 })
	if evs := s.trailEvents(ActionTicket); len(evs) != 1 {
		t.Errorf("the trail records %d tickets of the alert; want 1", len(evs))
	}
}

// TestOutboxPlantedFileForAnotherSinkIsRefused: a file planted in the
// outbox, unsigned (then read as a collector before this release queued
// it, and signed again), opening a real alert at a sink of the policy its
// rule does not send to: the outbox sent the alert there under that
// sink's credential (another team's, another tenant's receiver) and
// recorded the ticket in the trail. An unsigned file is now removed
// unread; and a signed opening at a sink the alert's rule does not name
// (queued before a policy change moved the rule) is removed as well.
func TestOutboxPlantedFileForAnotherSinkIsRefused(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-for-the-test")
	routed, other := newReceiver(t, secret), newReceiver(t, secret)
	routed.up.Store(true)
	other.up.Store(true)
	dir := filepath.Join(t.TempDir(), "tickets")
	sinks := []*Sink{{Name: "secops", Kind: "webhook", URL: routed.srv.URL, secret: secret}, {Name: "other", Kind: "webhook", URL: other.srv.URL, secret: secret}}
	var o *Outbox
	r := newRigWith(t, examplePolicy(t), func(a Alert) {
		if err := o.Enqueue(a); err != nil {
			t.Errorf("Enqueue: %v", err)
		}
	})
	var mu sync.Mutex
	var errs []string
	o, err := NewOutbox(OutboxConfig{Dir: dir, Sinks: sinks, Engine: r.eng, Key: r.key, MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		RuleSink: map[string]string{"token-guessing-client": "secops"},
		OnError: func(err error) {
			mu.Lock()
			errs = append(errs, err.Error())
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); o.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	id := wantAlerts(t, r, "token-guessing-client", 1)[0].ID
	waitFor(t, "the alert's ticket at its sink", func() bool { a, _ := r.eng.Alert(id); return hasTicket(&a, "secops") })
	waitFor(t, "the outbox empty", func() bool { return o.Pending() == 0 })

	a, _ := r.eng.Alert(id)
	b, err := json.Marshal(queued{Alert: a, Sink: "other"})
	if err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(dir, id+"~other.json")
	for _, plant := range []func() error{
		func() error { return os.WriteFile(planted, b, 0o600) },                         // unsigned
		func() error { return o.writeQueued(queued{Alert: a, Sink: "other"}, planted) }, // signed: a rule routed there before
	} {
		if err := plant(); err != nil {
			t.Fatal(err)
		}
		o.poke()
		waitFor(t, "the planted file gone", func() bool { _, err := os.Stat(planted); return os.IsNotExist(err) })
		waitFor(t, "the outbox empty again", func() bool { return o.Pending() == 0 })
	}
	mu.Lock()
	unsigned, elsewhere := 0, 0
	for _, e := range errs {
		unsigned += strings.Count(e, "is not signed")
		elsewhere += strings.Count(e, "does not send to")
	}
	mu.Unlock()
	if unsigned != 1 || elsewhere != 1 {
		t.Errorf("error lines %q; want one refusing the unsigned file, one the signed opening at a sink its rule does not send to", errs)
	}
	if a, _ := r.eng.Alert(id); hasTicket(&a, "other") {
		t.Errorf("the trail records a ticket of the alert at sink other, which its rule does not send to: %+v", a.Tickets)
	}
	if n := other.tries.Load(); n != 0 {
		t.Errorf("sink other was sent %d requests; want none", n)
	}
}
