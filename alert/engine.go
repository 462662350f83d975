package alert

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
)

// Config configures an Engine.
type Config struct {
	Policy *policy.Document // detection rules and what they need to know; nil: no rules
	// Append stores in the trail the lifecycle events the engine makes
	// outside a store's Detect hook (tickets, Alertmanager, a policy
	// reload); they come back through Detect. Nil keeps them in memory.
	Append func([]collector.Event) error
	// OnOpen is called, outside the engine's lock, with each alert the
	// engine opens live (not on replay): the ticket sinks' entry point.
	OnOpen func(Alert)
	// OnClose is called, outside the engine's lock, with each alert
	// closed live (not on replay): the ticket sinks comment or close.
	OnClose func(Alert)
	// OnError is called with a failure to store the engine's events; may be nil.
	OnError func(error)
	Actor   string // actor of the engine's events; "" means "portcullis-collector"
	// Snapshot is the file the engine's state is written to (WriteSnapshot)
	// and restored from (Restore); "" keeps no snapshot.
	Snapshot string
	// SnapshotKey signs the snapshot and checks it at Restore (the
	// collector's signing key), so a snapshot edited on disk is ignored.
	SnapshotKey ed25519.PrivateKey
	// TrailKey, when set (the collector's public key), has Replay and
	// Restore check each entry they replay as audit verify does (hash,
	// link, seq, the collector's signature): one that fails is not
	// replayed, is named to OnError and counted in ReplayStats.Unverified.
	TrailKey ed25519.PublicKey
}

// Engine evaluates the detection rules and keeps the alerts; see the
// package documentation.
type Engine struct {
	cfg Config

	mu        sync.Mutex // guards the following fields
	rules     []*Rule
	idx       *index
	groups    map[groupKey]*group
	alerts    map[string]*Alert
	open      map[groupKey]string // (rule, key) -> id of its alert not yet closed
	closed    map[groupKey]string // (rule, key) -> id of its last closed alert
	revoked   map[string]bool     // key ids revoked by lifecycle events
	keyClient map[string]string   // key ids created by lifecycle events
	// keyEnd is the not_after of key ids as their key.create or
	// key.rotate (old_not_after) events give it.
	keyEnd    map[string]time.Time
	networks  map[string]map[netip.Prefix]time.Time
	replaying bool
	observed  int
	pending   []Alert // opened by the entry being written, for OnOpen once stored
	closing   []Alert // closed by the entry being written, for OnClose once stored
	ready     []Alert // opened by stored entries, for OnOpen
	readyShut []Alert // closed by stored entries, for OnClose
	// pos and posHash are the chain position and hash of the newest entry
	// the state holds: what a snapshot of it corresponds to.
	pos     uint64
	posHash [32]byte
	// detected says Detect ran for the entry being written; derived are
	// the events it returned; unstored are derived events of entries that
	// failed to store, stored with the next entry.
	detected bool
	derived  []collector.Event
	unstored []collector.Event
	// diverged says why the state holds records the trail does not (an
	// entry that failed to store after Detect saw it): no snapshot then.
	diverged string
	// entryOpens are, on replay, the alert.open events of the entry being
	// replayed, by alert id: a rule firing on replay takes its alert from
	// there at the record that fired it, as the live engine did.
	entryOpens map[string]*collector.Event
	// lastClient and lastNets are the client networkLocked saw last and
	// its entry of networks; dropped with the networks.
	lastClient string
	lastNets   map[netip.Prefix]time.Time
	// lastSrc and lastSrcGroup are the address sourceLocked grouped last
	// and its group.
	lastSrc, lastSrcGroup string
	// clock is the time of the newest record not flagged
	// time_outside_window: a flagged record's time for the rules.
	clock time.Time
	rot   rotation // key_rotation rules (rotation.go)
	// loose is what the groups of source addresses hold, within
	// looseBudget; looseRefused counts the records left uncounted past it
	// (loose.go).
	loose        int64
	looseRefused uint64
	// openN counts the open alerts of each family of foldable rules, folds
	// names its folded alert, foldClosed its last closed one, foldLinks
	// the groups e.open links to its folded alert (fold.go).
	openN      map[string]int
	folds      map[string]string
	foldClosed map[string]string
	foldLinks  map[string]int
}

// groupKey is one rule's group: (rule name, group value).
type groupKey struct{ rule, key string }

// group is the sliding window of one rule's group and the request ids of
// its latest matching records.
type group struct {
	w          *window
	ids        []string // a ring of up to maxRequestIDs, oldest at next once full
	next       int
	last       time.Time // latest record added
	lastUpdate time.Time // latest alert.update written
	open       *Alert    // the group's alert not yet closed (e.open), or nil
	// bound is an upper bound of the window's sum at any time from
	// boundAt on: its sum at boundAt plus everything added since (a later
	// window only loses old buckets). Zero boundAt: not known.
	bound   int64
	boundAt time.Time
	// senders are the senders of the group's records, each with the time
	// of its latest (senders.go).
	senders map[string]time.Time
}

// addID keeps id as the newest of the group's request ids (a ring: no
// copying per record, BenchmarkObserve).
func (g *group) addID(id string) {
	if len(g.ids) < maxRequestIDs {
		g.ids = append(g.ids, id)
		return
	}
	g.ids[g.next] = id
	g.next = (g.next + 1) % maxRequestIDs
}

// requestIDs returns a copy of the group's request ids, oldest first.
func (g *group) requestIDs() []string {
	out := make([]string, 0, len(g.ids))
	out = append(out, g.ids[g.next:]...)
	return append(out, g.ids[:g.next]...)
}

// New returns an Engine for the rules of cfg.Policy.
func New(cfg Config) (*Engine, error) {
	if cfg.Actor == "" {
		cfg.Actor = "portcullis-collector"
	}
	e := &Engine{cfg: cfg, groups: map[groupKey]*group{}, alerts: map[string]*Alert{}, open: map[groupKey]string{},
		closed: map[groupKey]string{}, revoked: map[string]bool{}, keyClient: map[string]string{}, keyEnd: map[string]time.Time{}, networks: map[string]map[netip.Prefix]time.Time{}}
	e.recountOpenLocked()
	if err := e.SetPolicy(cfg.Policy, time.Time{}); err != nil {
		return nil, err
	}
	return e, nil
}

// SetPolicy replaces the rules and what they know of the policy. A client
// that holds a privileged scope in d and did not in the previous policy
// fires the privileged_grant rules at now (a zero now: the first policy,
// which fires nothing). Windows of rules kept by name are kept,
// re-cut for the rule's window and baseline as they are now, unless the
// rule counts another kind or group now (regroupLocked).
func (e *Engine) SetPolicy(d *policy.Document, now time.Time) error {
	var specs []policy.DetectionSpec
	if d != nil {
		specs = d.Detection
	}
	rules, err := compileRules(specs)
	if err != nil {
		return err
	}
	idx := newIndex(d)
	e.mu.Lock()
	old := e.idx
	was := make(map[string]string, len(e.rules)) // rule name -> kind and group before
	for _, r := range e.rules {
		was[r.Name] = r.Kind + " " + r.Group
	}
	e.rules, e.idx = rules, idx
	byName := make(map[string]*Rule, len(rules))
	for _, r := range rules {
		byName[r.Name] = r
		if w, ok := was[r.Name]; ok && w != r.Kind+" "+r.Group {
			e.regroupLocked(r.Name)
		}
	}
	for k, g := range e.groups {
		g.boundAt = time.Time{} // a rule kept by name may sum another window now
		if r := byName[k.rule]; r != nil && g.w != nil {
			g.w = g.w.refit(r.Window/windowBuckets, r.span()) // cut for the rule's window as it is now
		}
	}
	e.recountLooseLocked()
	e.rotationPolicyLocked(d) // rotation.go
	var out []collector.Event
	if old != nil && !now.IsZero() {
		for _, c := range sortedTrue(idx.privileged) {
			if !old.privileged[c] {
				out = e.grantLocked(c, "", now, out)
			}
		}
	}
	e.mu.Unlock()
	e.flush(out)
	return nil
}

// regroupLocked forgets the windows of rule, kept by name with another
// kind or group, and unlinks its open alerts from their groups (they stay
// open, for a person to close): a source alert keyed "acme-hris" (a sender
// writes any source) grew from the records of client acme-hris once the
// rule grouped by client, and the client's own alert, with its
// containment, never opened (TestRuleRegroupedOpensItsOwnAlerts).
func (e *Engine) regroupLocked(rule string) {
	for k := range e.groups {
		if k.rule == rule {
			delete(e.groups, k)
		}
	}
	for k := range e.open {
		if k.rule == rule {
			delete(e.open, k)
		}
	}
	e.forgetGroupsLocked()
}

// regroupedLocked reports whether a's rule, by name, counts another kind
// or group now than when a opened: a replay or a restore under the new
// policy must not link a to the rule's groups either.
func (e *Engine) regroupedLocked(a *Alert) bool {
	for _, r := range e.rules {
		if r.Name == a.Rule {
			return r.Kind != a.Kind || r.Group != a.Group
		}
	}
	return false
}

// Hooks returns the store hooks that feed the engine (issue 14): pass
// them as collector.StoreConfig.Detection.
func (e *Engine) Hooks() collector.Detection {
	return collector.Detection{Detect: e.Detect, Commit: e.Commit, After: e.After}
}

// Detect is the store's hook before it writes the entry at position seq:
// it runs the rules on the entry's records and events and returns the
// alert events to store in the same entry (with those of an earlier entry
// that failed to store).
func (e *Engine) Detect(seq uint64, records []collector.StoredRecord, events []collector.Event) []collector.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.observeLocked(records, events, e.unstored)
	e.unstored, e.derived, e.detected = nil, out, true
	return out
}

// observeLocked runs the rules on an entry's records, then its events (a
// batch's events are the ones detection derived from its records).
func (e *Engine) observeLocked(records []collector.StoredRecord, events []collector.Event, out []collector.Event) []collector.Event {
	for i := range records {
		if r := &records[i]; skewedRecord(r) {
			out = e.skewedLocked(r, out)
		} else {
			if at := countedAt(r); !at.Equal(r.Time) {
				c := *r
				c.Time = at
				r = &c
			}
			if r.Time.After(e.clock) {
				e.clock = r.Time
			}
			out = e.recordLocked(r, out)
		}
	}
	for i := range events {
		out = e.eventLocked(&events[i], out)
	}
	out = e.rotationObserveLocked(records, events, out) // rotation.go
	e.observed += len(records)
	if e.observed > 1<<14 {
		e.sweepLocked()
	}
	return out
}

// countedAt is the time detection counts r at: its own time, or, when
// it is dated after the collector stored it (within --record-window, else
// flagged), when it was stored (Received, the entry's time, which a
// replay reads too). At its own time, one record 14 minutes ahead moved
// its client's and source's windows (a minute for token guessing) past
// every record of theirs that followed, from any sender, which the
// windows dropped as too old: a sender repeating it every few minutes, or
// a sidecar whose clock ran two minutes fast, hid every guess
// (TestRecordAheadWithinWindowDoesNotBlindDetection); and it fired key
// rotation warnings up to 15 minutes early (TestRotationWarningNotEarlyByRecordAhead).
func countedAt(r *collector.StoredRecord) time.Time { return r.CountedAt() }

// skewedRecord reports whether the collector stored r flagged
// time_outside_window: its sender's clock is far from the collector's.
func skewedRecord(r *collector.StoredRecord) bool {
	for _, f := range r.Flags {
		if f == collector.FlagTimeOutsideWindow {
			return true
		}
	}
	return false
}

// skewedLocked runs the rules on a record whose time is not to be
// trusted at the time of the newest record that is (its own, before any):
// a time years ahead would advance every window it touches past the real
// records, which the windows then drop as too old, and the rotation
// clock; one behind would count nowhere. Before any record the engine
// trusts (a new collector's first batch, a replay from the start of the
// trail) there is no such time, and the record counts nowhere: run at its
// own time, the first record a new collector stored, dated two centuries
// ahead by a sender, moved every window it touched there for good, and no
// later guess of its client or source, from any sender, was counted
// (TestSkewedFirstRecordDoesNotBlindDetection).
func (e *Engine) skewedLocked(r *collector.StoredRecord, out []collector.Event) []collector.Event {
	if e.clock.IsZero() {
		return out
	}
	c := *r
	c.Time = e.clock
	return e.recordLocked(&c, out)
}

// Commit is the store's hook after an append attempt: the state now
// corresponds to the entry at seq with hash, or, when the entry Detect saw
// was not stored, its alert events wait for the next entry.
func (e *Engine) Commit(seq uint64, hash [32]byte, stored bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case stored:
		e.pos, e.posHash = seq, hash
		e.ready, e.readyShut = append(e.ready, e.pending...), append(e.readyShut, e.closing...)
		e.pending, e.closing = nil, nil
	case e.detected:
		e.unstored = append(e.unstored, e.derived...)
		e.diverged = fmt.Sprintf("an entry after seq %d failed to store after detection counted it", e.pos)
	}
	e.detected, e.derived = false, nil
}

// After is the store's hook outside its lock: it tells OnOpen and OnClose
// of the alerts stored entries opened and closed.
func (e *Engine) After() {
	e.mu.Lock()
	opened, closed := e.ready, e.readyShut
	e.ready, e.readyShut = nil, nil
	e.mu.Unlock()
	if e.cfg.OnOpen != nil {
		for _, a := range opened {
			e.cfg.OnOpen(a)
		}
	}
	if e.cfg.OnClose != nil {
		for _, a := range closed {
			e.cfg.OnClose(a)
		}
	}
}

// Observe runs the rules on records and events that pass through no
// store: the events the rules make are stored through Config.Append when
// set, then OnOpen and OnClose are called.
func (e *Engine) Observe(records []collector.StoredRecord, events []collector.Event) {
	e.mu.Lock()
	out := e.observeLocked(records, events, nil)
	e.mu.Unlock()
	e.flush(out)
}

// flush stores events the engine made outside a store's Detect hook (the
// alerts they open are in the state already) and tells OnOpen and OnClose.
// Events that fail to store are stored with the next entry.
func (e *Engine) flush(out []collector.Event) {
	if len(out) > 0 && e.cfg.Append != nil {
		if err := e.cfg.Append(out); err != nil {
			e.mu.Lock()
			e.unstored = append(e.unstored, out...)
			e.mu.Unlock()
			if e.cfg.OnError != nil {
				e.cfg.OnError(fmt.Errorf("cannot store %d alert events, stored with the next entry: %w", len(out), err))
			}
		}
	}
	e.mu.Lock()
	if e.cfg.Append == nil || len(out) == 0 {
		e.ready, e.readyShut = append(e.ready, e.pending...), append(e.readyShut, e.closing...)
		e.pending, e.closing = nil, nil
	}
	e.mu.Unlock()
	e.After()
}

// Alerts returns a copy of every alert, oldest first.
func (e *Engine) Alerts() []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Alert, 0, len(e.alerts))
	for _, a := range e.alerts {
		out = append(out, a.clone())
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Opened.Before(out[j].Opened) || out[i].Opened.Equal(out[j].Opened) && out[i].ID < out[j].ID
	})
	return out
}

// Alert returns a copy of the alert id.
func (e *Engine) Alert(id string) (Alert, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.alerts[id]
	if !ok {
		return Alert{}, false
	}
	return a.clone(), true
}

// eventLocked takes one stored lifecycle event.
func (e *Engine) eventLocked(ev *collector.Event, out []collector.Event) []collector.Event {
	d := details(ev)
	e.rotationEventLocked(ev, d) // rotation.go
	switch {
	case IsAlertEvent(ev):
		e.applyLocked(ev, d)
	case ev.Action == "key.revoke":
		e.revoked[ev.Target] = true
	case ev.Action == "key.rotate":
		if d["new_key"] != "" {
			e.keyClient[d["new_key"]] = d["client"]
		}
		e.keyEndLocked(ev.Target, d["old_not_after"]) // shortened to the overlap's end
	case ev.Action == "key.create":
		e.keyClient[ev.Target] = d["client"]
		e.keyEndLocked(ev.Target, d["not_after"])
		if e.idx.privileged[d["client"]] {
			out = e.grantLocked(d["client"], ev.Target, ev.Time, out)
		}
	}
	return out
}

// keyEndLocked learns the not_after of key id from an event's detail.
func (e *Engine) keyEndLocked(id, notAfter string) {
	if t, err := time.Parse(time.RFC3339, notAfter); err == nil {
		e.keyEnd[id] = t
	}
}

// setOpenLocked makes a (nil: none) the open alert of group k, in e.open
// and in the group's window, where the per-record path looks
// (BenchmarkObserve: one map lookup less per record and rule).
func (e *Engine) setOpenLocked(k groupKey, a *Alert) {
	if a != nil && e.regroupedLocked(a) {
		return // opened under the rule's former kind or group: its groups are not the rule's now
	}
	if a == nil {
		delete(e.open, k)
	} else {
		e.open[k] = a.ID
		if a.Kind == KindNewNetwork {
			e.open[groupKey{a.Rule, a.Client}] = a.ID // openNetLocked
		}
	}
	if g := e.groups[k]; g != nil {
		g.open = a
	}
}

// applyLocked applies an alert lifecycle event; it is idempotent for the
// open the engine applied when it wrote it.
func (e *Engine) applyLocked(ev *collector.Event, d map[string]string) {
	if ev.Key != "" {
		d = withoutFold(d) // fold.go
	}
	if ev.Action == ActionOpen {
		if _, ok := e.alerts[ev.Target]; !ok {
			a := alertFromOpen(ev, d)
			e.alerts[a.ID] = a
			if a.Folded == 0 { // a folded alert is linked to its groups as they fold (fold.go)
				e.setOpenLocked(groupKey{a.Rule, a.Key}, a)
			}
			e.trackOpenLocked(a, true)
			e.linkOpenLocked(a) // fold.go
		}
		return
	}
	a, ok := e.alerts[ev.Target]
	if !ok {
		return // an event for an alert this trail does not hold
	}
	if ev.Action == ActionClose && a.Status == StatusClosed {
		return // closed already: the first closure stands
	}
	if ev.Action == ActionUpdate && a.Folded > 0 {
		e.linkUpdateLocked(a, d) // fold.go
	}
	a.apply(ev, d)
	if a.Status == StatusClosed && ev.Action == ActionClose {
		if !e.replaying {
			e.closing = append(e.closing, a.clone())
		}
		e.trackOpenLocked(a, false)
		if a.Folded > 0 {
			return // its groups are unlinked (trackOpenLocked); foldClosed is its re-fire's previous
		}
		k := groupKey{a.Rule, a.Key}
		if e.open[k] == a.ID {
			e.setOpenLocked(k, nil)
		}
		e.closed[k] = a.ID
		if a.Kind == KindNewNetwork { // openNetLocked's index, and the re-fire's previous
			if ck := (groupKey{a.Rule, a.Client}); e.open[ck] == a.ID {
				delete(e.open, ck)
			}
			e.closed[groupKey{a.Rule, a.Client}] = a.ID
		}
	}
}

// grantLocked fires the privileged_grant rules for client (and keyID).
func (e *Engine) grantLocked(client, keyID string, t time.Time, out []collector.Event) []collector.Event {
	for _, r := range e.rules {
		if r.Kind == KindPrivilegedGrant {
			s := subject{tenant: e.idx.clientTenant[client], client: client, keyID: keyID}
			out = e.fireLocked(r, client, s, t, 1, nil, out)
		}
	}
	return out
}

// subject is who an alert is about.
type subject struct{ tenant, client, keyID, sender string }

// fireLocked opens the alert of (r, key) or grows the open one by n.
func (e *Engine) fireLocked(r *Rule, key string, s subject, t time.Time, n int64, g *group, out []collector.Event) []collector.Event {
	k := groupKey{r.Name, key}
	if id, ok := e.open[k]; ok {
		return e.growLocked(e.alerts[id], r, n, t, g, out)
	}
	if e.full(r) {
		return e.foldLocked(r, key, s, t, n, g, out) // fold.go
	}
	if e.replaying {
		e.openFromEntryLocked(r.Name, key, t, g)
		return out // the trail holds what was opened; replay fires nothing
	}
	prev := e.closed[k]
	if prev == "" && r.Kind == KindNewNetwork {
		prev = e.closed[groupKey{r.Name, s.client}] // the client's, from another network
	}
	a := &Alert{ID: e.newIDLocked(r.Name, key, t), Rule: r.Name, Kind: r.Kind, Severity: r.Severity, Group: r.Group, Key: key,
		Tenant: s.tenant, Client: s.client, KeyID: s.keyID, Status: StatusOpen, Opened: t, LastSeen: t, Count: n,
		Window: r.Window.String(), RuleAction: r.Action, Previous: prev}
	if g != nil {
		a.RequestIDs = g.requestIDs()
		a.Senders = g.sendersSince(t.Add(-r.Window))
		g.lastUpdate = t
	}
	a.addSender(s.sender)
	e.alerts[a.ID] = a
	e.setOpenLocked(k, a)
	e.trackOpenLocked(a, true)
	e.pending = append(e.pending, a.clone())
	ev := collector.Event{Time: t, Actor: e.cfg.Actor, Action: ActionOpen, Target: a.ID,
		Reason: fmt.Sprintf("rule %s fired for %s %s", r.Name, r.Group, key), Details: encodeDetails(a.openDetails())}
	return append(out, ev)
}

// growLocked adds n matching records to an open alert, writing an
// alert.update at most once per rule window so that the trail holds the
// count without a line per record; an Alertmanager alert's on each
// repeat, which no record replays.
func (e *Engine) growLocked(a *Alert, r *Rule, n int64, t time.Time, g *group, out []collector.Event) []collector.Event {
	a.Count = satAdd(a.Count, n) // a record stands for up to collector.MaxRequestsPerRecord requests, many of them: summed as is, an alert open long enough wrapped negative
	if t.After(a.LastSeen) {
		a.LastSeen = t
	}
	switch {
	case r.Kind == "alertmanager": // no record replays it: each count is in the trail (TestAlertmanagerRepeatReplayed)
		a.updated = t
	case a.Folded > 0: // many groups grow it: one update per window, not one per group
		if t.Sub(a.updated) < r.Window {
			return out
		}
		a.updated = t
	case g == nil || t.Sub(g.lastUpdate) < r.Window:
		return out
	default:
		g.lastUpdate = t
	}
	if e.replaying {
		return out // the update is in the trail
	}
	d := map[string]string{"count": strconv.FormatInt(a.Count, 10), "last_seen": a.LastSeen.UTC().Format(time.RFC3339Nano)}
	if a.Folded > 0 {
		d["folded"] = strconv.FormatInt(a.Folded, 10) // its keys are in the update of the group that added each (foldUpdateLocked)
	}
	return append(out, collector.Event{Time: t, Actor: e.cfg.Actor, Action: ActionUpdate, Target: a.ID, Details: encodeDetails(d)})
}

// openFromEntryLocked opens, on replay, the alert id the entry being
// replayed holds an alert.open for, at the record that fired it: the
// records after it grow it as they did live.
func (e *Engine) openFromEntryLocked(rule, key string, t time.Time, g *group) {
	if len(e.entryOpens) == 0 {
		return
	}
	ev := e.entryOpens[e.newIDLocked(rule, key, t)]
	if ev == nil {
		ev = e.entryOpens[legacyAlertID(rule, key, t)] // a trail written before ids had 64 bits
	}
	if ev == nil {
		return
	}
	e.applyLocked(ev, details(ev))
	if g != nil {
		g.lastUpdate = t
	}
}

// idForm is the form of an alert's id (alertID); releases before the
// 64-bit hash wrote 32 bits (8 hex digits), and their alerts stay in
// the trail.
var idForm = regexp.MustCompile(`^alert-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}([0-9a-f]{8})?$`)

// IsID reports whether s has the form of an alert's id, as alerts list
// prints it.
func IsID(s string) bool { return idForm.MatchString(s) }

// alertID names an alert by its rule, key and time: stable across a
// replay of the same trail, distinct for a re-fire. 64 bits of hash: with
// 32, two of the tens of thousands of sources a campaign makes cross a
// threshold in one second were as likely as not to share an id, and one
// alert overwrote the other.
func alertID(rule, key string, t time.Time) string {
	sum := sha256.Sum256([]byte(rule + "\x00" + key + "\x00" + strconv.FormatInt(t.UnixNano(), 10)))
	return "alert-" + t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(sum[:8])
}

// newIDLocked is the id of an alert of (rule, key) opened at t: alertID,
// or, when an alert holds that id already, alertID of the key with the
// first suffix that no alert holds. A sender picks its records' times and
// sources: a group firing again at the instant its closed alert opened, or
// a folded alert (key "*") opening at the instant source "*" fired, must
// not overwrite that alert, live or on replay, where the same alerts are
// held at the same record.
func (e *Engine) newIDLocked(rule, key string, t time.Time) string {
	id := alertID(rule, key, t)
	for n := 1; e.alerts[id] != nil; n++ {
		id = alertID(rule, key+"\x00"+strconv.Itoa(n), t)
	}
	return id
}

// legacyAlertID is alertID as collectors before 64-bit ids wrote it.
func legacyAlertID(rule, key string, t time.Time) string {
	id := alertID(rule, key, t)
	return id[:len(id)-8]
}

// sweepLocked drops the windows and networks nothing has touched for
// longer than any rule looks back.
func (e *Engine) sweepLocked() {
	e.observed = 0
	var newest time.Time
	for _, g := range e.groups {
		if g.last.After(newest) {
			newest = g.last
		}
	}
	span := map[string]time.Duration{}
	for _, r := range e.rules {
		span[r.Name] = r.span()
	}
	for k, g := range e.groups {
		if newest.Sub(g.last) > span[k.rule] {
			delete(e.groups, k)
		}
	}
	e.forgetGroupsLocked()
	e.sweepNetworksLocked(newest)
	e.recountLooseLocked()
}

// sweepNetworksLocked drops the networks last seen longer before newest
// than every new_network rule looks back (all of them without such a
// rule), and the clients left with none.
func (e *Engine) sweepNetworksLocked(newest time.Time) {
	var lookback time.Duration
	for _, r := range e.rules {
		if r.Kind == KindNewNetwork {
			lookback = max(lookback, r.Lookback)
		}
	}
	for _, nets := range e.networks { // the newest record seen: no group may have any
		for _, t := range nets {
			if t.After(newest) {
				newest = t
			}
		}
	}
	for c, nets := range e.networks {
		for p, t := range nets {
			if newest.Sub(t) > lookback {
				delete(nets, p)
			}
		}
		if len(nets) == 0 {
			delete(e.networks, c)
		}
	}
	e.lastClient, e.lastNets = "", nil
}

// forgetGroupsLocked drops the rules' memory of their last group, for
// groups deleted or replaced.
func (e *Engine) forgetGroupsLocked() {
	for _, r := range e.rules {
		r.lastKey, r.lastGroup = "", nil
	}
}

func sortedTrue(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// RecordTicket writes the alert.ticket event of alert id: sink filed it as
// key at t.
func (e *Engine) RecordTicket(id, sink, key string, t time.Time) error {
	return e.record(collector.Event{Time: t, Actor: e.cfg.Actor, Action: ActionTicket, Target: id,
		Details: encodeDetails(map[string]string{"sink": sink, "ticket": key})})
}

// record appends ev to the trail through cfg.Append or, without one,
// applies it to the engine's state at once.
func (e *Engine) record(ev collector.Event) error {
	if e.cfg.Append != nil {
		return e.cfg.Append([]collector.Event{ev})
	}
	e.mu.Lock()
	e.applyLocked(&ev, details(&ev))
	e.mu.Unlock()
	return nil
}

// RecordCloseRefused writes the alert.ticket_close_refused event of alert
// id: sink refused the closure of its ticket key for good at t, as why
// says.
func (e *Engine) RecordCloseRefused(id, sink, key, why string, t time.Time) error {
	return e.record(collector.Event{Time: t, Actor: e.cfg.Actor, Action: ActionTicketCloseRefused, Target: id, Reason: why,
		Details: encodeDetails(map[string]string{"sink": sink, "ticket": key})})
}

// RecordTicketFold writes the alert.ticket_update event of the folded
// alert id: sink's ticket key was told at t that it folds folded groups
// (foldticket.go), or, with refused not "", refused for good to be told
// (why): it counts as told, and the next update waits its gap.
func (e *Engine) RecordTicketFold(id, sink, key string, folded int64, refused string, t time.Time) error {
	n := strconv.FormatInt(folded, 10)
	d := map[string]string{"sink": sink, "ticket": key, "update": updateFolded, "folded": n}
	reason := "ticket " + key + " at sink " + sink + " told the alert folds " + n + " groups"
	if refused != "" {
		d["refused"] = refused
		reason = "ticket " + key + " at sink " + sink + " refused for good to be told the alert folds " + n + " groups: " + refused
	}
	return e.record(collector.Event{Time: t, Actor: e.cfg.Actor, Action: ActionTicketUpdate, Target: id, Reason: reason,
		Details: encodeDetails(d)})
}

// FoldedAlerts returns the open folded alerts (fold.go), one a family at
// most.
func (e *Engine) FoldedAlerts() []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Alert, 0, len(e.folds))
	for _, id := range e.folds {
		if a := e.alerts[id]; a != nil {
			out = append(out, a.clone())
		}
	}
	return out
}

// RecordTicketUpdate writes the alert.ticket_update event of alert id: the
// closure reached sink's ticket key at t.
func (e *Engine) RecordTicketUpdate(id, sink, key string, t time.Time) error {
	return e.record(collector.Event{Time: t, Actor: e.cfg.Actor, Action: ActionTicketUpdate, Target: id,
		Details: encodeDetails(map[string]string{"sink": sink, "ticket": key, "update": "closed"})})
}
