package alert

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/credential"
)

// OutboxConfig configures an Outbox.
type OutboxConfig struct {
	Dir    string  // where queued deliveries wait, one file each
	Sinks  []*Sink // every sink of the policy
	Engine *Engine // the alerts; delivered tickets are recorded through it
	// RuleSink maps a rule to the sink it names; a rule not in it (or
	// mapped to "") goes to every sink.
	RuleSink   map[string]string
	Client     *http.Client     // nil: a client with a 10 s timeout that follows no redirect
	MinBackoff time.Duration    // first retry delay; 0 means 1 s
	MaxBackoff time.Duration    // retry delay cap; 0 means 5 min
	Now        func() time.Time // nil: time.Now
	OnError    func(error)      // a failed delivery, retried later; may be nil
	// Key signs each queued file, with its name, and is checked when the
	// file is read (the collector's signing key): whoever can write the
	// data directory cannot set what a file says the sink took (Sent),
	// refused or was tried. nil: a key made for this process, so files
	// queued by an earlier process are refused and queued again.
	Key ed25519.PrivateKey
}

// Outbox delivers alerts to the ticket sinks: each (alert, sink) is a file
// written and fsync'd before Enqueue returns, removed only after the
// ticket is recorded in the trail (alert.ticket), and retried with
// exponential backoff and jitter while the sink is down, across restarts.
// Before sending, a delivery the trail already records is dropped, so an
// alert reaches a sink once; the one window left (the sink answered, the
// collector died before the trail recorded it) resends the same
// X-Portcullis-Delivery id, which a receiver deduplicates.
type Outbox struct {
	cfg  OutboxConfig
	wake chan struct{}

	mu       sync.Mutex // guards the following fields
	attempts map[string]int
	due      map[string]time.Time
	// sent are the deliveries the sink took whose record in the trail
	// failed, by file name: the ticket key (for a closure, the key told).
	// A retry records it and sends nothing: a second POST is a second
	// Jira issue.
	sent map[string]string
	// refused are the closures the sink refused for good whose record in
	// the trail failed, by file name: why (see queued.Refused).
	refused map[string]string
	// sentFold are the folded alerts' updates the sink took (or refused
	// for good) whose record in the trail failed, by file name: what was
	// told, and why it was refused. The queued file holds the alert as it
	// was when the update fell due; on a full disk it cannot be rewritten
	// to say more.
	sentFold map[string]foldSent
	// triedCreate are the deliveries to a Jira sink whose create failed
	// (see queued.Tried).
	triedCreate map[string]bool
	// unqueued says a delivery could not be written (a full disk):
	// Run writes the alerts' deliveries again (Reconcile) from
	// requeueAt, backing off while it fails.
	unqueued bool
	// foldUnqueued says a folded alert's update that fell due could not be
	// written (foldticket.go): foldDue writes it again at its next pass.
	foldUnqueued  bool
	requeueGen    uint64 // failed writes so far: one during a retry keeps unqueued
	requeueAt     time.Time
	requeueTries  int
	queueFailures uint64 // deliveries that could not be written
	failures      uint64 // tries of a delivery that failed
	closeRefused  uint64 // closures the sinks refused for good
}

// OutboxStats are the outbox's counts for the collector's metrics.
type OutboxStats struct {
	// QueueFailures counts the writes of a delivery that failed (on a
	// full disk), the in-process retries included.
	QueueFailures uint64
	// Unqueued is set while an alert's delivery waits to be written
	// again: its ticket, closure or a folded alert's update is not yet
	// queued.
	Unqueued bool
	// DeliveryFailures counts the tries of a delivery (a ticket, or the
	// closure told to one) that failed and are retried with backoff: the
	// sink down, a refusal, an answer naming a blank ticket key.
	DeliveryFailures uint64
	// CloseRefused counts the closures a sink refused for good (a 4xx
	// other than 408 and 429, or a ticket key that cannot be sent):
	// recorded as alert.ticket_close_refused, logged once, not retried.
	CloseRefused uint64
}

// Stats returns the outbox's counts.
func (o *Outbox) Stats() OutboxStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return OutboxStats{QueueFailures: o.queueFailures, Unqueued: o.unqueued || o.foldUnqueued, DeliveryFailures: o.failures, CloseRefused: o.closeRefused}
}

// queued is one delivery on disk.
type queued struct {
	Alert Alert  `json:"alert"`
	Sink  string `json:"sink"`
	Close string `json:"close,omitempty"` // the ticket key to tell of the closure; "" for the opening
	// Fold is the ticket key to tell of its folded alert's growth
	// (foldticket.go); "" for the opening.
	Fold string `json:"fold,omitempty"`
	// Sent is the ticket key the sink answered (for a closure, the key
	// told), written when the trail could not record it: a restart then
	// records it without sending again.
	Sent string `json:"sent,omitempty"`
	// Tried is set once a create at a Jira sink failed: it may have filed
	// the issue all the same (answered after the timeout), so a retry
	// searches for it first.
	Tried bool `json:"tried,omitempty"`
	// Refused says why the sink refused the closure for good, written
	// when the trail could not record it: a restart records it without
	// sending again. For an update of a folded alert's ticket, why the
	// sink refused it, recorded with it (foldticket.go).
	Refused string `json:"refused,omitempty"`
}

// NewOutbox returns an Outbox over cfg.Dir, creating it.
func NewOutbox(cfg OutboxConfig) (*Outbox, error) {
	if cfg.Client == nil {
		// A redirect is not followed: it would send the alert (and the
		// sink's credential, to the same host on plain http) wherever
		// the answer points. It is an answer that is not 2xx.
		cfg.Client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		_, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, fmt.Errorf("cannot make a key for ticket outbox %q: %w", cfg.Dir, err)
		}
		cfg.Key = key
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create ticket outbox %q: %w", cfg.Dir, err)
	}
	return &Outbox{cfg: cfg, wake: make(chan struct{}, 1), attempts: map[string]int{}, due: map[string]time.Time{}, sent: map[string]string{}, refused: map[string]string{}, sentFold: map[string]foldSent{}, triedCreate: map[string]bool{}}, nil
}

// sinksFor returns the sinks an alert of rule goes to.
func (o *Outbox) sinksFor(rule string) []*Sink {
	name := o.cfg.RuleSink[rule]
	if name == "" {
		return o.cfg.Sinks
	}
	for _, s := range o.cfg.Sinks {
		if s.Name == name {
			return []*Sink{s}
		}
	}
	return nil
}

// Enqueue queues a for its sinks durably. It is the engine's OnOpen. A
// delivery that cannot be written is written again by Run (the error
// says so), not only at the next start.
func (o *Outbox) Enqueue(a Alert) error {
	for _, s := range o.sinksFor(a.Rule) {
		if err := o.write(a, s.Name); err != nil {
			return o.requeue(err)
		}
	}
	o.poke()
	return nil
}

// requeue has Run write the deliveries again after err, a failed write.
func (o *Outbox) requeue(err error) error {
	o.mu.Lock()
	if !o.unqueued {
		o.unqueued, o.requeueTries, o.requeueAt = true, 0, o.cfg.Now()
	}
	o.requeueGen++
	o.mu.Unlock()
	o.poke()
	return fmt.Errorf("%w; written again with backoff until it is", err)
}

// requeueDue writes the deliveries a failed write left unqueued, when
// their retry is due (Reconcile: every alert lacking a ticket or a
// closure that has no queued delivery), and returns how long to wait for
// the next retry, or MaxBackoff when none waits.
func (o *Outbox) requeueDue() time.Duration {
	now := o.cfg.Now()
	o.mu.Lock()
	pending, at, gen := o.unqueued, o.requeueAt, o.requeueGen
	o.mu.Unlock()
	if !pending {
		return o.cfg.MaxBackoff
	}
	if now.Before(at) {
		return at.Sub(now)
	}
	err := o.reconcile()
	if err == nil {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.requeueGen != gen { // an alert failed meanwhile, maybe after its pass
			return 0
		}
		o.unqueued = false
		return o.cfg.MaxBackoff
	}
	o.mu.Lock()
	d := o.delay(o.requeueTries)
	o.requeueTries++
	o.requeueAt = now.Add(d)
	o.mu.Unlock()
	o.fail(fmt.Errorf("%w; written again in %s", err, d.Round(time.Millisecond)))
	return d
}

// EnqueueClose queues the closure of a for every ticket filed for it
// whose sink's API can take it: each ticket of a sink apart
// (TestClosureToldToEachTicketAtOneSink). It is the engine's OnClose.
func (o *Outbox) EnqueueClose(a Alert) error {
	for _, t := range o.told(&a) {
		if s := o.sink(t.Sink); s != nil && s.closes(t.Key) && !closureSettled(&a, t.Sink, t.Key) {
			if err := o.writeQueued(queued{Alert: a, Sink: t.Sink, Close: t.Key}, o.closePath(a.ID, t.Sink, t.Key)); err != nil {
				return o.requeue(err)
			}
		}
	}
	o.poke()
	return nil
}

// maxSinkTickets bounds the tickets of one sink the outbox tells of an
// alert (its closure, a folded alert's growth), the first its history
// names: each alert.ticket event, which etcd may bear, adds a ticket, and
// a folded alert's is some 30 requests a day.
const maxSinkTickets = 4

// told returns the tickets of a the outbox tells of it: each sink's
// first maxSinkTickets where the request names the ticket (Jira, GitHub,
// ServiceNow: the key is in its URL), and the sink's first alone where it
// names only the alert (a webhook, Slack): a second would be the same
// message again.
func (o *Outbox) told(a *Alert) []Ticket {
	out := make([]Ticket, 0, len(a.Tickets))
	n := map[string]int{}
	for _, t := range a.Tickets {
		limit := 1
		if s := o.sink(t.Sink); s != nil && (s.Kind == "jira" || s.Kind == "github" || s.Kind == "servicenow") {
			limit = maxSinkTickets
		}
		if n[t.Sink]++; n[t.Sink] <= limit {
			out = append(out, t)
		}
	}
	return out
}

// ticketClosed reports whether the trail records the closure reaching
// ticket key of sink. An alert may hold two tickets at one sink: told of
// the closure by sink, one settled the other, never told.
func ticketClosed(a *Alert, sink, key string) bool {
	for _, c := range a.History {
		if c.Action == ActionTicketUpdate && c.Details["sink"] == sink && c.Details["ticket"] == key && c.Details["update"] != updateFolded {
			return true
		}
	}
	return false
}

// closureSettled reports whether the trail records the closure reaching
// ticket key of sink, or sink refusing it for good: either way nothing is
// sent again.
func closureSettled(a *Alert, sink, key string) bool {
	return ticketClosed(a, sink, key) || recorded(a, ActionTicketCloseRefused, sink, key)
}

// recorded reports whether a's history holds an action event of ticket
// key of sink.
func recorded(a *Alert, action, sink, key string) bool {
	for _, c := range a.History {
		if c.Action == action && c.Details["sink"] == sink && c.Details["ticket"] == key {
			return true
		}
	}
	return false
}

// closePath is where the closure of ticket key of sink waits, a file for
// each ticket; ALERT~SINK~close.json, the one file of a sink before, is
// still delivered.
func (o *Outbox) closePath(id, sink, key string) string {
	return o.ticketPath(id, sink, "close", key)
}

// ticketPath is the file of a delivery of kind to ticket key of sink,
// ID~SINK~KIND-HASH.json: the key, which may hold a "/", named by its
// hash.
func (o *Outbox) ticketPath(id, sink, kind, key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(o.cfg.Dir, id+"~"+sink+"~"+kind+"-"+hex.EncodeToString(sum[:8])+".json")
}

// Reconcile queues every alert not closed that a sink has no ticket for
// and no queued delivery: an alert opened just before a crash, before
// Enqueue ran, or whose queued file was refused (readQueued). Such a
// delivery may have reached the sink already, so a Jira sink is searched
// for its issue (the delivery label) before one is created, and a
// webhook gets the same delivery id and Idempotency-Key as before. Call
// it after the engine's Replay.
func (o *Outbox) Reconcile() error {
	err := o.reconcile()
	o.poke()
	return err
}

func (o *Outbox) reconcile() error {
	for _, a := range o.cfg.Engine.Alerts() {
		if a.Status == StatusClosed {
			if err := o.reconcileClose(a); err != nil {
				return err
			}
			continue
		}
		for _, s := range o.sinksFor(a.Rule) {
			if hasTicket(&a, s.Name) {
				continue
			}
			if _, err := os.Stat(o.path(a.ID, s.Name)); err == nil {
				continue
			}
			// Tried: a Jira sink is searched first. The file this writes
			// again may have been refused (signed under a key since
			// rotated, or by a release that did not sign) after a create
			// that Jira took: created again unsearched, the alert had a
			// second issue (TestJiraResendAfterKeyRotationFilesOneIssue).
			if err := o.writeQueued(queued{Alert: a, Sink: s.Name, Tried: true}, o.path(a.ID, s.Name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// reconcileClose queues the closures a crash left unqueued.
func (o *Outbox) reconcileClose(a Alert) error {
	for _, t := range o.told(&a) {
		s := o.sink(t.Sink)
		if s == nil || !s.closes(t.Key) || closureSettled(&a, t.Sink, t.Key) {
			continue
		}
		p := o.closePath(a.ID, t.Sink, t.Key)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		if err := o.writeQueued(queued{Alert: a, Sink: t.Sink, Close: t.Key}, p); err != nil {
			return err
		}
	}
	return nil
}

func hasTicket(a *Alert, sink string) bool {
	for _, t := range a.Tickets {
		if t.Sink == sink {
			return true
		}
	}
	return false
}

func (o *Outbox) path(id, sink string) string {
	return filepath.Join(o.cfg.Dir, id+"~"+sink+".json")
}

// write stores one delivery atomically: temporary file, fsync, rename,
// fsync of the directory.
func (o *Outbox) write(a Alert, sink string) error {
	return o.writeQueued(queued{Alert: a, Sink: sink}, o.path(a.ID, sink))
}

// writeQueued stores q at p atomically.
func (o *Outbox) writeQueued(q queued, p string) error {
	a, sink := q.Alert, q.Sink
	b, err := o.seal(filepath.Base(p), q)
	if err != nil {
		return fmt.Errorf("cannot encode delivery of %s to %q: %w", a.ID, sink, err)
	}
	f, err := os.CreateTemp(o.cfg.Dir, ".tmp-*")
	if err != nil {
		o.mu.Lock()
		o.queueFailures++
		o.mu.Unlock()
		return fmt.Errorf("cannot queue %s for %q: %w", a.ID, sink, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		o.mu.Lock()
		o.queueFailures++
		o.mu.Unlock()
		os.Remove(f.Name())
		return fmt.Errorf("cannot queue %s for %q: %w", a.ID, sink, err)
	}
	return syncDir(o.cfg.Dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (o *Outbox) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Pending returns the number of queued deliveries.
func (o *Outbox) Pending() int {
	names, _ := o.list()
	return len(names)
}

func (o *Outbox) list() ([]string, error) {
	ents, err := os.ReadDir(o.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read ticket outbox %q: %w", o.cfg.Dir, err)
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".json") && !strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Run delivers queued alerts until ctx ends.
func (o *Outbox) Run(ctx context.Context) {
	for {
		wait := o.deliverDue(ctx)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-o.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// deliverDue tries every queued delivery whose retry time has come and
// returns how long to wait for the next.
func (o *Outbox) deliverDue(ctx context.Context) time.Duration {
	wait := min(o.requeueDue(), o.foldDue(o.cfg.Now())) // foldticket.go
	names, err := o.list()
	if err != nil {
		o.fail(err)
		return wait
	}
	down := map[string]bool{} // sinks that failed in this pass
	for _, n := range names {
		if ctx.Err() != nil {
			return 0
		}
		now := o.cfg.Now()
		o.mu.Lock()
		due := o.due[n]
		o.mu.Unlock()
		if now.Before(due) {
			wait = min(wait, due.Sub(now))
			continue
		}
		if down[sinkOfName(n)] {
			// Tried at the next pass: a hung sink costs a pass one
			// timeout, not one per delivery queued for it, and holds no
			// other sink's ticket back. A sink that answered is not
			// down: its refusal of one delivery (a 404 for an issue
			// deleted since) holds none of the others back.
			continue
		}
		if err := o.deliverOne(n); err != nil {
			o.mu.Lock()
			o.failures++
			o.mu.Unlock()
			o.fail(err)
			wait = min(wait, o.backoff(n, now))
			var sf *sinkFailure
			if errors.As(err, &sf) {
				down[sinkOfName(n)] = true
			}
		}
	}
	return wait
}

// sinkOfName is the sink of a queued delivery's file name: ID~SINK.json,
// ID~SINK~close-HASH.json, ID~SINK~fold-HASH.json, or an older
// collector's ID~SINK~close.json and ID~SINK~fold.json (neither an alert
// id nor a sink name holds "~").
func sinkOfName(name string) string {
	parts := strings.SplitN(strings.TrimSuffix(name, ".json"), "~", 3)
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// sinkFailure is a request the sink did not answer: unreachable or
// timed out.
type sinkFailure struct{ err error }

func (e *sinkFailure) Error() string { return e.err.Error() }
func (e *sinkFailure) Unwrap() error { return e.err }

// deliverOne sends one queued delivery, records its ticket in the trail
// and removes it.
func (o *Outbox) deliverOne(name string) error {
	p := filepath.Join(o.cfg.Dir, name)
	q, err := o.readQueued(name, p) // outbox_signed.go
	if err != nil {
		return err
	}
	sink := o.sink(q.Sink)
	if sink == nil {
		return fmt.Errorf("queued delivery %q names sink %q, which the policy no longer has", p, q.Sink)
	}
	if err := o.checkPlanted(name, p, &q); err != nil {
		return err
	}
	if o.settledOnFile(o.sent, name, q.Sent, &q) {
		return o.done(name, p) // a file kept from then, put back: the trail has it
	}
	if key, ok := o.remembered(o.sent, name, q.Sent); ok {
		o.mu.Lock()
		if f, ok := o.sentFold[name]; ok { // what the update told, not what its file was queued with
			q.Alert.Folded, q.Refused = f.folded, f.refused
		}
		o.mu.Unlock()
		return o.record(name, p, &q, key) // the sink has it; the trail does not yet
	}
	if q.Close != "" {
		return o.deliverClose(name, p, sink, &q)
	}
	if q.Fold != "" {
		return o.deliverFold(name, p, sink, &q) // foldticket.go
	}
	if a, ok := o.cfg.Engine.Alert(q.Alert.ID); ok && hasTicket(&a, q.Sink) {
		return o.done(name, p) // delivered before a crash; the trail says so
	}
	if sink.Kind == "jira" && o.tried(name, &q) {
		key, err := sink.findIssue(o.cfg.Client, &q.Alert, o.cfg.Now())
		if err != nil {
			return err
		}
		if key != "" {
			return o.record(name, p, &q, key) // filed by the try that had no answer
		}
	}
	key, err := sink.deliver(o.cfg.Client, &q.Alert, o.cfg.Now())
	if err != nil {
		if sink.Kind == "jira" {
			o.markTried(name, p, &q)
		}
		return err
	}
	return o.record(name, p, &q, key)
}

// checkPlanted replaces the alert of the delivery q, read from file p,
// with the engine's (the one the trail opened), and removes and reports a
// delivery of an alert the engine does not hold, the closure or growth
// of a ticket that is not the alert's at q's sink, a closure of an
// alert that is open, or an opening at a sink the alert's rule does not
// send to (routes): whoever can write the
// data directory planted such files, and the outbox sent them under the
// sink's credential and recorded them in the trail (attack805).
func (o *Outbox) checkPlanted(name, p string, q *queued) error {
	a, ok := o.cfg.Engine.Alert(q.Alert.ID)
	why := ""
	switch key := cmp.Or(q.Close, q.Fold); {
	case !ok:
		why = "names an alert the trail never opened"
	case key != "" && !ownTicket(&a, q.Sink, key):
		why = fmt.Sprintf("names ticket %q, which is not the alert's at the sink", key)
	case q.Close != "" && a.Status != StatusClosed:
		why = "closes the ticket of an alert that is open"
	case key == "" && !o.routes(a.Rule, q.Sink):
		why = fmt.Sprintf("opens a ticket at sink %q, which the alert's rule %q does not send to", q.Sink, a.Rule)
	}
	if why == "" {
		fold := q.Alert.Folded
		q.Alert = a
		if q.Fold != "" {
			q.Alert.Folded = fold // as the update fell due (foldticket.go)
		}
		return nil
	}
	if err := o.done(name, p); err != nil {
		return err
	}
	return fmt.Errorf("queued delivery %q %s: not sent, removed (a file planted in the outbox)", p, why)
}

// routes reports whether an alert of rule goes to sink (sinksFor). A
// file opening an alert's ticket at another sink of the policy was sent
// there and recorded (TestOutboxPlantedFileForAnotherSinkIsRefused).
func (o *Outbox) routes(rule, sink string) bool {
	for _, s := range o.sinksFor(rule) {
		if s.Name == sink {
			return true
		}
	}
	return false
}

// ownTicket reports whether a holds ticket key of sink.
func ownTicket(a *Alert, sink, key string) bool {
	for _, t := range a.Tickets {
		if t.Sink == sink && t.Key == key {
			return true
		}
	}
	return false
}

// tried reports whether a create of the delivery failed before, in this
// process or (its file says so) before a restart.
func (o *Outbox) tried(name string, q *queued) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.triedCreate[name] || q.Tried
}

// markTried remembers a failed create, in memory and, best effort, in
// the delivery's file.
func (o *Outbox) markTried(name, p string, q *queued) {
	o.mu.Lock()
	o.triedCreate[name] = true
	o.mu.Unlock()
	if !q.Tried {
		q.Tried = true
		o.writeQueued(*q, p) // on a full disk the memory holds it
	}
}

// deliverClose tells the ticket of the closure, records it and removes
// the delivery.
func (o *Outbox) deliverClose(name, p string, sink *Sink, q *queued) error {
	if o.settledOnFile(o.refused, name, q.Refused, q) {
		return o.done(name, p) // a file kept from then, put back: the trail has it
	}
	if why, ok := o.remembered(o.refused, name, q.Refused); ok {
		// Refused; the trail does not say so yet, whatever the engine's
		// state says (as for record).
		return o.refuse(name, p, q, why)
	}
	if a, ok := o.cfg.Engine.Alert(q.Alert.ID); ok && closureSettled(&a, q.Sink, q.Close) {
		return o.done(name, p)
	}
	err := sink.closeTicket(o.cfg.Client, &q.Alert, q.Close, o.cfg.Now())
	if errors.Is(err, ErrCloseRefused) {
		return o.refuse(name, p, q, fmt.Sprintf("the closure of alert %s failed for good at ticket sink %q, not retried: %s", q.Alert.ID, q.Sink,
			credential.Redact(strings.TrimPrefix(err.Error(), ErrCloseRefused.Error()+": "))))
	}
	if err != nil {
		return err
	}
	return o.record(name, p, q, q.Close)
}

// refuse records in the trail that the sink refused the closure q for
// good (alert.ticket_close_refused, which alerts show prints), counts it,
// logs it once (OnError, an error wrapping ErrCloseRefused) and removes
// the delivery. When the trail cannot take it, why is kept as record
// keeps a key, and the retry records it without sending again.
func (o *Outbox) refuse(name, p string, q *queued, why string) error {
	if err := o.cfg.Engine.RecordCloseRefused(q.Alert.ID, q.Sink, q.Close, why, o.cfg.Now()); err != nil {
		o.mu.Lock()
		first := o.refused[name] == ""
		o.refused[name] = why
		o.mu.Unlock()
		if first && q.Refused == "" {
			q.Refused = why
			o.writeQueued(*q, p) // best effort: on a full disk the memory holds it
		}
		return fmt.Errorf("refused closure of %s at sink %q not recorded in the trail; recorded at the next try, not sent again: %w", q.Alert.ID, q.Sink, err)
	}
	o.mu.Lock()
	delete(o.refused, name)
	o.closeRefused++
	o.mu.Unlock()
	o.fail(fmt.Errorf("%w: %s", ErrCloseRefused, why))
	return o.done(name, p)
}

// settledOnFile reports whether saved, what q's file says the sink took
// or refused (m: this process's memory of it, which is used instead when
// it holds name), is what the trail already records: at the start the
// engine holds what the trail does, so a file saying so was kept from
// then and put back, and recording it again would record it twice. q's
// alert is the engine's (checkPlanted).
func (o *Outbox) settledOnFile(m map[string]string, name, saved string, q *queued) bool {
	o.mu.Lock()
	_, mem := m[name]
	o.mu.Unlock()
	if mem || saved == "" {
		return false
	}
	switch {
	case q.Close != "":
		return closureSettled(&q.Alert, q.Sink, q.Close)
	case q.Fold != "":
		_, told, _ := foldTold(&q.Alert, q.Sink, q.Fold)
		return told >= q.Alert.Folded
	}
	return ownTicket(&q.Alert, q.Sink, saved)
}

// remembered returns what the outbox keeps of a delivery the trail did
// not record, from m (sent: the key the sink took; refused: why it refused
// a closure), else from the queued file written before a restart (saved).
func (o *Outbox) remembered(m map[string]string, name, saved string) (string, bool) {
	o.mu.Lock()
	v, ok := m[name]
	o.mu.Unlock()
	if !ok && saved != "" {
		v, ok = saved, true
	}
	return v, ok
}

// record writes in the trail what the sink took (alert.ticket, or
// alert.ticket_update for a closure or a folded alert's growth) and
// removes the delivery. When the trail cannot take it (a full disk), the
// key is kept, in memory and in the queued file if that can be written,
// and the retry records it without sending again. The engine's state is no proof of the record:
// it applied the event before the store failed to write it.
func (o *Outbox) record(name, p string, q *queued, key string) error {
	var err error
	switch {
	case q.Close != "":
		err = o.cfg.Engine.RecordTicketUpdate(q.Alert.ID, q.Sink, key, o.cfg.Now())
	case q.Fold != "":
		err = o.cfg.Engine.RecordTicketFold(q.Alert.ID, q.Sink, key, q.Alert.Folded, q.Refused, o.cfg.Now())
	default:
		err = o.cfg.Engine.RecordTicket(q.Alert.ID, q.Sink, key, o.cfg.Now())
	}
	if err != nil {
		o.mu.Lock()
		first := o.sent[name] == ""
		o.sent[name] = key
		if q.Fold != "" {
			o.sentFold[name] = foldSent{folded: q.Alert.Folded, refused: q.Refused}
		}
		o.mu.Unlock()
		if first && q.Sent == "" {
			q.Sent = key
			o.writeQueued(*q, p) // best effort: on a full disk the memory holds it
		}
		return fmt.Errorf("ticket %s of %s at sink %q not recorded in the trail; recorded at the next try, not sent again: %w", key, q.Alert.ID, q.Sink, err)
	}
	o.mu.Lock()
	delete(o.sent, name)
	delete(o.sentFold, name)
	o.mu.Unlock()
	if err := o.done(name, p); err != nil {
		return err
	}
	if a, ok := o.cfg.Engine.Alert(q.Alert.ID); ok && q.Close == "" && q.Fold == "" && a.Status == StatusClosed {
		// Closed before its ticket was filed: OnClose found no ticket to
		// tell, so tell this one now, not at the next start's Reconcile; a
		// closure that cannot be written (disk full) is written again with
		// backoff.
		if err := o.reconcileClose(a); err != nil {
			return o.requeue(err)
		}
		o.poke()
	}
	return nil
}

func (o *Outbox) sink(name string) *Sink {
	for _, s := range o.cfg.Sinks {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (o *Outbox) done(name, p string) error {
	o.mu.Lock()
	delete(o.attempts, name)
	delete(o.due, name)
	delete(o.triedCreate, name)
	delete(o.sent, name)
	delete(o.sentFold, name)
	o.mu.Unlock()
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("cannot remove delivered %q: %w", p, err)
	}
	return syncDir(o.cfg.Dir)
}

// backoff schedules the next attempt of name: exponential from
// MinBackoff, capped at MaxBackoff, with jitter in [1/2, 1) so that many
// queued alerts do not retry in step.
func (o *Outbox) backoff(name string, now time.Time) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.attempts[name]
	o.attempts[name] = n + 1
	d := o.delay(n)
	o.due[name] = now.Add(d)
	return d
}

// delay is the wait before retry n+1.
func (o *Outbox) delay(n int) time.Duration {
	d := o.cfg.MinBackoff << min(n, 20)
	if d > o.cfg.MaxBackoff || d <= 0 {
		d = o.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// fail hands err to OnError, which logs it, with what reads as a
// credential redacted: an error may quote what a sink answered (a ticket
// key, a status line), and a sink may echo what it was sent.
func (o *Outbox) fail(err error) {
	if o.cfg.OnError != nil {
		o.cfg.OnError(redactError(err))
	}
}

// redactError returns err, or when its text holds what reads as a
// credential an error wrapping it whose text has it redacted.
func redactError(err error) error {
	if msg := credential.Redact(err.Error()); msg != err.Error() {
		return &redactedError{msg: msg, err: err}
	}
	return err
}

// redactedError is an error whose text is redacted; errors.Is and As
// still see the error it wraps.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
