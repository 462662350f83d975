package alert

import (
	"encoding/json"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// An outsider makes up the groups of some rules: a source-grouped rule has
// a group per address (per /64), an Alertmanager alert a group per
// fingerprint. Left alone, a guesser on a thousand addresses opens a
// thousand alerts, each a ticket per sink, and keeps them in memory until
// a person closes each one. So such a rule keeps at most maxOpenPerRule
// alerts open; past that, a group that fires is folded into one alert of
// the rule (key foldKey, Folded counting the groups), which grows as they
// do and is ticketed once. Closing the folded alert lets its groups fire
// again; closing individual alerts makes room for new ones.
//
// A rule whose groups the policy names (client, tenant, key) is never
// folded: containment acts on each client's alert (contain.go).
//
// The fold is part of the state the trail replays: whether a fire folds
// depends only on the alerts open at that record, which replay rebuilds
// in the same order, and the folded alert's alert.open is applied at the
// record that opened it, as any alert's is.

// maxOpenPerRule is how many alerts a rule whose groups an outsider makes
// up keeps open before it folds (the Alertmanager alert names of one
// severity count as one rule here: a sender names them).
const maxOpenPerRule = 100

// foldKey is the key of a folded alert. A source may be "*" too: what
// marks a folded alert is Folded > 0, never its key.
const foldKey = "*"

// maxFoldedKeys is how many of the folded groups a folded alert names, the
// first ones: the rest are counted in Folded.
const maxFoldedKeys = 20

// maxFoldLinks is how many groups a folded alert is linked to by key
// (e.open), so that a group's later records grow it even after the sweep
// dropped the group's window; past it a group is linked by its window
// only (group.open), and a group made again fires and folds again.
const maxFoldLinks = 10000

// foldable reports whether alerts of r are capped and folded.
func foldable(r *Rule) bool { return r.Group == "source" || r.Kind == "alertmanager" }

// family is the name rules share a cap under: the rule's own, or
// "alertmanager:" and the severity for the Alertmanager alert names of
// that severity, a name no policy rule has (a rule may be named
// "alertmanager", TestRuleNamedAlertmanagerNotInTheirFamily). One family
// for every severity folded a critical alert into the folded alert of
// whichever name folded first, ticketed at its severity, medium say
// (TestAlertmanagerCriticalNotFoldedUnderMedium).
func family(rule, kind, severity string) string {
	if kind == "alertmanager" {
		return "alertmanager:" + severity
	}
	return rule
}

// foldableAlert reports whether a counts against its family's cap or is
// its folded alert.
func foldableAlert(a *Alert) bool { return a.Group == "source" || a.Kind == "alertmanager" }

// trackOpenLocked counts a, opened (or, with opened false, closed), in the
// open alerts of its family.
func (e *Engine) trackOpenLocked(a *Alert, opened bool) {
	if !foldableAlert(a) {
		return
	}
	f := family(a.Rule, a.Kind, a.Severity)
	switch {
	case a.Folded > 0 && opened:
		e.folds[f] = a.ID
	case a.Folded > 0:
		if e.folds[f] == a.ID {
			delete(e.folds, f)
		}
		e.foldClosed[f] = a.ID
		e.unfoldLocked(a)
		delete(e.foldLinks, f)
	case opened:
		e.openN[f]++
	case e.openN[f] > 0:
		e.openN[f]--
	}
}

// unfoldLocked unlinks the groups folded into a, now closed: each fires
// again, into a new alert or a new fold.
func (e *Engine) unfoldLocked(a *Alert) {
	for k, id := range e.open {
		if id == a.ID {
			delete(e.open, k)
		}
	}
	for _, g := range e.groups {
		if g.open == a {
			g.open = nil
		}
	}
}

// recountOpenLocked rebuilds the counts of open alerts and the folds from
// the alerts (after a restore, which restores foldClosed: the order two
// folded alerts opened at one instant closed in is not in the alerts).
func (e *Engine) recountOpenLocked() {
	e.openN, e.folds, e.foldClosed, e.foldLinks = map[string]int{}, map[string]string{}, map[string]string{}, map[string]int{}
	for _, a := range e.alerts {
		if a.Status != StatusClosed {
			e.trackOpenLocked(a, true)
		}
	}
	fold := make(map[string]string, len(e.folds)) // folded alert id -> family
	for f, id := range e.folds {
		fold[id] = f
	}
	for _, id := range e.open {
		if f, ok := fold[id]; ok {
			e.foldLinks[f]++
		}
	}
}

// full reports whether r's family has as many alerts open as it may.
func (e *Engine) full(r *Rule) bool {
	return foldable(r) && e.openN[family(r.Name, r.Kind, r.Severity)] >= maxOpenPerRule
}

// foldLocked folds the group (r, key), which fires while r's family is
// full, into the family's folded alert, opening it when there is none.
func (e *Engine) foldLocked(r *Rule, key string, s subject, t time.Time, n int64, g *group, out []collector.Event) []collector.Event {
	f := family(r.Name, r.Kind, r.Severity)
	k := groupKey{r.Name, key}
	a := e.alerts[e.folds[f]]
	if a == nil {
		if e.replaying {
			e.openFromEntryLocked(r.Name, foldKey, t, nil)
			if a = e.alerts[e.folds[f]]; a != nil {
				e.linkFoldLocked(k, a, g)
			}
			return out // the trail holds what was opened; replay fires nothing
		}
		a = &Alert{ID: e.newIDLocked(r.Name, foldKey, t), Rule: r.Name, Kind: r.Kind, Severity: r.Severity, Group: r.Group, Key: foldKey,
			Tenant: s.tenant, Client: s.client, KeyID: s.keyID, Status: StatusOpen, Opened: t, LastSeen: t, Count: n,
			Window: r.Window.String(), RuleAction: r.Action, Previous: e.foldClosed[f], Folded: 1, FoldedKeys: []string{key}}
		if g != nil {
			a.RequestIDs = g.requestIDs()
			a.Senders = g.sendersSince(t.Add(-r.Window))
		}
		a.addSender(s.sender)
		a.updated = t
		e.alerts[a.ID] = a
		e.trackOpenLocked(a, true)
		e.linkFoldLocked(k, a, g)
		e.pending = append(e.pending, a.clone())
		d := a.openDetails()
		d["folded"], d["folded_keys"] = "1", foldedKeysDetail(a.FoldedKeys)
		return append(out, collector.Event{Time: t, Actor: e.cfg.Actor, Action: ActionOpen, Target: a.ID,
			Reason: "rule " + r.Name + " has " + strconv.Itoa(maxOpenPerRule) + " alerts open: " + r.Group + " " + key +
				" and those that fire after it are folded into this alert", Details: encodeDetails(d)})
	}
	a.Folded++
	d := map[string]string{"folded": strconv.FormatInt(a.Folded, 10), "fold_rule": r.Name, "fold_key": key}
	if len(a.FoldedKeys) < maxFoldedKeys {
		a.FoldedKeys = append(a.FoldedKeys, key)
		d["folded_keys"] = foldedKeysDetail(a.FoldedKeys)
	}
	a.addSender(s.sender)
	e.linkFoldLocked(k, a, g)
	return e.foldUpdateLocked(a, n, t, d, out)
}

// foldUpdateLocked grows a, the folded alert, by the n records of the
// group just folded, and writes the alert.update d naming the group, one
// for each: the trail holds every group folded, which readers of its
// events (Load, the evidence pack) count, and an Alertmanager alert, which
// no record replays, is folded and linked on replay by it (applyLocked).
func (e *Engine) foldUpdateLocked(a *Alert, n int64, t time.Time, d map[string]string, out []collector.Event) []collector.Event {
	a.Count = satAdd(a.Count, n) // a record stands for up to collector.MaxRequestsPerRecord requests, many of them: summed as is, an alert open long enough wrapped negative
	if t.After(a.LastSeen) {
		a.LastSeen = t
	}
	a.updated = t
	if e.replaying {
		return out // the update is in the trail
	}
	d["count"], d["last_seen"] = strconv.FormatInt(a.Count, 10), a.LastSeen.UTC().Format(time.RFC3339Nano)
	return append(out, collector.Event{Time: t, Actor: e.cfg.Actor, Action: ActionUpdate, Target: a.ID, Details: encodeDetails(d)})
}

// linkOpenLocked links a folded alert just opened from its alert.open to
// the group that opened it, its first folded key under its rule: on
// replay, an Alertmanager alert's fingerprint, which no record folds.
func (e *Engine) linkOpenLocked(a *Alert) {
	if a.Folded > 0 && len(a.FoldedKeys) > 0 && foldableAlert(a) {
		k := groupKey{a.Rule, a.FoldedKeys[0]}
		e.linkFoldLocked(k, a, e.groups[k])
	}
}

// linkUpdateLocked links the group an alert.update of a, a folded alert
// not closed, names as folded by it (foldUpdateLocked), when a does not
// count it yet: on replay, an Alertmanager alert's fingerprint; live, the
// update applied again once stored changes nothing. A group of another
// family is never linked: its alerts are its own.
func (e *Engine) linkUpdateLocked(a *Alert, d map[string]string) {
	rule, key := d["fold_rule"], d["fold_key"]
	n, err := strconv.ParseInt(d["folded"], 10, 64)
	if err != nil || n <= a.Folded || key == "" || a.Status == StatusClosed || !sameFamily(a, rule) {
		return
	}
	k := groupKey{rule, key}
	e.linkFoldLocked(k, a, e.groups[k])
}

// sameFamily reports whether rule's groups fold into a, a folded alert.
func sameFamily(a *Alert, rule string) bool {
	if a.Kind == "alertmanager" {
		return strings.HasPrefix(rule, "alertmanager:")
	}
	return rule == a.Rule
}

// linkFoldLocked makes a, a folded alert, the open alert of the group k:
// its later records grow a, as they would their own alert.
func (e *Engine) linkFoldLocked(k groupKey, a *Alert, g *group) {
	if f := family(a.Rule, a.Kind, a.Severity); e.open[k] != a.ID && e.foldLinks[f] < maxFoldLinks {
		e.open[k] = a.ID
		e.foldLinks[f]++
	}
	if g != nil {
		g.open = a
	}
}

// foldedKeysDetail encodes a folded alert's keys for an event's details
// (a JSON array: a source as a sender wrote it may hold a comma).
func foldedKeysDetail(keys []string) string {
	b, _ := json.Marshal(keys) // strings always encode
	return string(b)
}

// parseFoldedKeys decodes foldedKeysDetail's encoding; nil when s is not one.
func parseFoldedKeys(s string) []string {
	var keys []string
	if s == "" || json.Unmarshal([]byte(s), &keys) != nil {
		return nil
	}
	if len(keys) > maxFoldedKeys {
		keys = keys[:maxFoldedKeys]
	}
	return keys
}

// foldDetails are the details of the engine's alert events that fold.
var foldDetails = []string{"folded", "folded_keys", "fold_rule", "fold_key"}

// withoutFold returns d without foldDetails, for an event borne by etcd
// (a Key): the engine writes the events that fold in the trail itself,
// and a person's in etcd are acks, containments and closures. An etcd
// alert.update could otherwise swap the sources a folded alert names with
// no line of history, and an etcd alert.open take the place of the folded
// alert the next sources fold into, never ticketed
// (TestFoldNotForgedThroughEtcd).
func withoutFold(d map[string]string) map[string]string {
	if d == nil {
		return nil
	}
	c := maps.Clone(d)
	for _, k := range foldDetails {
		delete(c, k)
	}
	return c
}
