package evidence

import (
	"encoding/csv"
	"fmt"
	"sort"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// keyAge is what the pack knows of one key's age: its record (from the
// policy in force, or rebuilt from its key.create or key.rotate event) and
// the rotation or revocation that ended it.
type keyAge struct {
	spec    policy.KeySpec
	rotated *collector.Event // its key.rotate: the rotation evidence
	revoked *collector.Event
}

// keyAgeRows writes one "key age" row per key of the policy in force and
// per key created in the period (issue 20): its age at the end of the
// period (or now, for a period still running) against lifecycle.max_key_age,
// whether it is over or under it, and its rotation evidence.
func (b *builder) keyAgeRows(w *csv.Writer) {
	asOf := b.cfg.Period.To
	if now := b.cfg.Now(); now.Before(asOf) {
		asOf = now
	}
	maxAge, _ := b.doc.Lifecycle.Ages()
	for _, k := range b.keyAges() {
		w.Write(csvCells(rfc(asOf), "key age", k.spec.ID, k.spec.CreatedBy, k.spec.Ticket, ageNote(k, asOf, maxAge), "", "", ageFlag(k, asOf, maxAge), "", ""))
	}
}

// keyAges gathers the keys of the policy in force and of the period's
// key.create and key.rotate events, with their rotations and revocations,
// sorted by id.
func (b *builder) keyAges() []*keyAge {
	keys := map[string]*keyAge{}
	for _, k := range b.doc.Keys {
		keys[k.ID] = &keyAge{spec: k}
	}
	// The keys `keys create` made live in etcd, not in the policy
	// document: one created before the period and never rotated nor
	// revoked had no row, so a key years old escaped "over max_key_age"
	// however stale. The trail's events before the period rebuild them.
	for i := range b.keysBefore {
		ev := &b.keysBefore[i]
		switch ev.Action {
		case etcdadmin.ActionKeyCreate:
			spec := policy.KeySpec{ID: ev.Target, CreatedBy: ev.Actor, Ticket: ev.Ticket, CreatedAt: rfc(ev.Time), NotAfter: eventDetails(ev.Details)["not_after"]}
			keys[ev.Target] = &keyAge{spec: spec}
		case etcdadmin.ActionKeyRevoke:
			delete(keys, ev.Target) // ended before the period
		case etcdadmin.ActionKeyRotate:
			// The new key starts here; the old one stays while its
			// overlap (old_not_after) reaches into the period.
			d := eventDetails(ev.Details)
			if old := keys[ev.Target]; old != nil {
				if end, err := time.Parse(time.RFC3339, d["old_not_after"]); err == nil && end.After(b.cfg.Period.From) {
					old.rotated = ev
				} else {
					delete(keys, ev.Target)
				}
			}
			if d["new_key"] != "" {
				keys[d["new_key"]] = &keyAge{spec: policy.KeySpec{ID: d["new_key"], CreatedBy: ev.Actor, Ticket: ev.Ticket, CreatedAt: rfc(ev.Time)}}
			}
		}
	}
	at := func(ev *collector.Event, id string) *keyAge {
		if keys[id] == nil {
			keys[id] = &keyAge{spec: policy.KeySpec{ID: id, CreatedBy: ev.Actor, Ticket: ev.Ticket, CreatedAt: rfc(ev.Time)}}
		}
		return keys[id]
	}
	for i := range b.events {
		ev := &b.events[i]
		d := eventDetails(ev.Details)
		switch ev.Action {
		case etcdadmin.ActionKeyCreate:
			at(ev, ev.Target).spec.NotAfter = d["not_after"]
		case etcdadmin.ActionKeyRotate:
			at(ev, ev.Target).rotated = ev
			if d["new_key"] != "" {
				at(ev, d["new_key"])
			}
		case etcdadmin.ActionKeyRevoke:
			at(ev, ev.Target).revoked = ev
		}
	}
	out := make([]*keyAge, 0, len(keys))
	for _, k := range keys {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].spec.ID < out[j].spec.ID })
	return out
}

// ageNote says a key's age against the policy and its rotation evidence.
func ageNote(k *keyAge, asOf time.Time, maxAge time.Duration) string {
	born := k.spec.Born()
	s := "age unknown (no created_at or not_before)"
	if !born.IsZero() {
		s = fmt.Sprintf("created %s, age %s", rfc(born), days(asOf.Sub(born)))
	}
	if maxAge > 0 {
		s += " of max_key_age " + days(maxAge)
	}
	if r := k.rotated; r != nil {
		s += fmt.Sprintf("; rotated %s to %s by %s (ticket %s)", rfc(r.Time), dash(eventDetails(r.Details)["new_key"]), dash(r.Actor), dash(r.Ticket))
	}
	if r := k.revoked; r != nil || k.spec.Revoked {
		s += "; revoked"
		if r != nil {
			s += " " + rfc(r.Time)
		}
	}
	return s
}

// ageFlag is the verdict of a key's age: over or under max_key_age, or
// rotated or revoked (what happens to an old key), or no policy.
func ageFlag(k *keyAge, asOf time.Time, maxAge time.Duration) string {
	born := k.spec.Born()
	switch {
	case k.rotated != nil:
		return "rotated"
	case k.revoked != nil || k.spec.Revoked:
		return "revoked"
	case maxAge == 0:
		return "no max_key_age"
	case born.IsZero() || asOf.Sub(born) >= maxAge:
		return "over max_key_age"
	}
	return "under max_key_age"
}

// days writes d in whole days, or hours below a day.
func days(d time.Duration) string {
	if d < 24*time.Hour && d > -24*time.Hour {
		return d.Truncate(time.Minute).String()
	}
	return fmt.Sprintf("%dd", d/(24*time.Hour))
}

// keyEventsBefore returns, from every lifecycle event of the trail, the
// key creations, rotations and revocations dated before p, oldest first.
func keyEventsBefore(all []collector.Event, p Period) []collector.Event {
	var out []collector.Event
	for i := range all {
		switch ev := &all[i]; ev.Action {
		case etcdadmin.ActionKeyCreate, etcdadmin.ActionKeyRotate, etcdadmin.ActionKeyRevoke:
			if ev.Time.Before(p.From) {
				out = append(out, *ev)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}
