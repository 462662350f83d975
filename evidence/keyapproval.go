package evidence

import (
	"fmt"
	"strings"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// A key creation's ticket names a change record; it is no second
// person's approval: the operator who made the key wrote it, and the
// pack cannot show anyone approved the change it names. The approval a
// key creation shows is the one `keys create --approval` spent in the
// transaction that wrote the key (lifecycle.privileged_key_approval): a
// key.create event naming it and an approval.use of it for `keys create`
// at the same etcd revision, granted by someone other than its requester.
// A rotation's is an approval.use for `keys rotate` (the approver knew it
// a successor: etcdadmin.KeysRotateRoute), or for `keys create`, which
// keys rotate spent before the rotate kind and the approver granted for
// a new privileged key of the client.

// keyCreateApproval returns, for the key.create (or key.rotate) event
// ev, the approval it names and what the trail shows of it: ok when a
// second person's approval was spent on it, else why not.
func (b *builder) keyCreateApproval(ev *collector.Event, samples map[string]*approvalSample) (id, text string, ok bool) {
	d := eventDetails(ev.Details)
	id = d["approval"]
	if id == "" {
		return "", "none (no approval spent; a ticket is no second person's approval)", false
	}
	spent, kind := false, etcdadmin.KeysCreateRoute
	if ev.Action == etcdadmin.ActionKeyRotate {
		kind = etcdadmin.KeysRotateRoute
	}
	for k := range b.events {
		u := &b.events[k]
		if u.Revision == ev.Revision && u.Unverified == "" && u.Action == etcdsync.ActionApprovalUse && u.Target == id &&
			keyRoute(ev.Action, eventDetails(u.Details)["route"]) && eventDetails(u.Details)["client"] == d["client"] {
			spent = true
		}
	}
	s := samples[id]
	switch {
	case ev.Unverified != "":
		return id, "approval " + id + " named by an unverified event", false
	case s != nil && s.state == etcdsync.ApprovalGranted && s.selfApproved():
		// Judged before its use: the follower stores the use of a
		// self-granted approval unverified (etcdadmin.selfGrantProblem),
		// and "no approval.use of it" hid why, as weakening.go says.
		return id, "approval " + id + " named, but granted by its requester (no second person; see the approval samples)", false
	case !spent:
		return id, "approval " + id + " named, but no approval.use of it for " + kind + " of this client in the same etcd transaction", false
	case s == nil || s.state != etcdsync.ApprovalGranted:
		return id, "approval " + id + " spent, but no grant of it in the trail", false
	}
	return id, "approval " + id + " spent, granted by " + collector.RedactText(s.approver), true
}

// keyRoute reports whether an approval used for route admits the key
// event action: keys create a key.create; keys rotate, or keys create
// as an older CLI spent for it, a key.rotate.
func keyRoute(action, route string) bool {
	if action == etcdadmin.ActionKeyRotate && route == etcdadmin.KeysRotateRoute {
		return true
	}
	return route == etcdadmin.KeysCreateRoute
}

// keyCreations counts the key creations of the period for the token
// creation question. What each must show follows the credential it made:
// a key of a client holding a privileged scope must show a second
// person's approval spent in its own transaction (a ticket is no second
// person's, above); any other key must show its ticket, the change record
// that authorised it, which the reviewer samples in the ticketing system.
// Before (review73), every key needed an approval, and keys create
// refuses --approval for a client without a privileged scope: any period
// in which one ordinary key was made answered No, whatever was shown.
//
// A rotation of a privileged client's key makes a new privileged
// credential too, and keys rotate spends a keys rotate approval for it
// (etcdadmin.RotateKey; a keys create one before that kind): such a
// rotation must show one as a creation does. Before, only key.create events were counted, so a rotation with
// none (an older CLI's, one written into etcd by hand) showed "none" in
// the lifecycle log under an answer of Yes
// (TestUnapprovedPrivilegedRotationAnswersNo).
//
// A rotation of any other client's key makes a new credential as a
// creation does, and must show its ticket as one does; and a key that
// authenticated requests in the period with no key.create or key.rotate
// event in the trail, nor in a policy document, was made where the trail
// cannot show it approved or logged. Before, the first were not counted
// and the second named nowhere: one without a ticket, or a key put into
// etcd by hand, answered Yes
// (TestTokenCreationCountsOrdinaryRotationsAndNamesKeysNeverMade).
type keyCreations struct {
	creates, priv, approved, ordinary, ticketed int
	rotations, rotApproved                      int      // rotations of privileged clients' keys
	ordRotations, ordRotTicketed                int      // rotations of other clients' keys
	without                                     []string // the first ten keys lacking what they must show
	// unmade are the keys of the period's requests made by no event
	// (builder.keysNeverMade), the first ten, of unmadeN; unmadeOver
	// counts the records naming keys past the tally's bound, unchecked.
	unmade     []string
	unmadeN    int
	unmadeOver int64
	unmadeNote string // why the key records in etcd were not read
	// unverified counts the key events of either kind the follower
	// stored unverified (the change the event describes is not in its
	// etcd transaction), counted in neither above: the event vouches for
	// nothing, its ticket or approval no more than the key. Before, one
	// for a privileged client was named among the keys WITHOUT what they
	// must show, as if the key were known to lack it, and one for any
	// other client counted its ticket
	// (TestUnverifiedKeyEventIsNamedAsNotVerified).
	unverified int
	notShown   []string // the first ten of them
}

// addUnverified counts a key event stored unverified, naming its key.
func (k *keyCreations) addUnverified(named string) {
	k.unverified++
	if len(k.notShown) < 10 {
		k.notShown = append(k.notShown, named)
	}
}

func (k *keyCreations) add(target string, privileged, approved, ticketed bool) {
	k.creates++
	shown := ticketed
	if privileged {
		k.priv++
		shown = approved
		if approved {
			k.approved++
		}
	} else {
		k.ordinary++
		if ticketed {
			k.ticketed++
		}
	}
	if !shown {
		k.name(mdCell(target))
	}
}

// addRotation counts the rotation of key old to key made, of a client
// holding a privileged scope.
func (k *keyCreations) addRotation(old, made string, approved bool) {
	k.rotations++
	if approved {
		k.rotApproved++
		return
	}
	k.name(rotationName(old, made))
}

// addOrdinaryRotation counts the rotation of key old to key made, of a
// client holding no privileged scope: it must show its ticket.
func (k *keyCreations) addOrdinaryRotation(old, made string, ticketed bool) {
	k.ordRotations++
	if ticketed {
		k.ordRotTicketed++
		return
	}
	k.name(rotationName(old, made))
}

// addUnmade counts the keys never made (named, sorted), the records
// over the tally's bound, and note (keysNeverMade).
func (k *keyCreations) addUnmade(named []string, note string, over int64) {
	k.unmadeN, k.unmadeOver, k.unmadeNote = len(named), over, note
	k.unmade = named[:min(len(named), 10)]
}

// rotationName names the rotation of key old to key made.
func rotationName(old, made string) string {
	named := "the rotation of " + mdCell(old)
	if made != "" {
		named += " to " + mdCell(made)
	}
	return named
}

// name lists a key lacking what it must show, the first ten only.
func (k *keyCreations) name(key string) {
	if len(k.without) < 10 {
		k.without = append(k.without, key)
	}
}

// ok: some key was made, and each showed what it must.
func (k *keyCreations) ok() bool {
	return k.creates+k.rotations+k.ordRotations > 0 && k.approved == k.priv && k.ticketed == k.ordinary && k.rotApproved == k.rotations &&
		k.ordRotTicketed == k.ordRotations && k.unverified == 0 && k.unmadeN == 0 && k.unmadeOver == 0
}

// fact counts the kinds apart and names the keys that lack what they
// must show.
func (k *keyCreations) fact() string {
	f := fmt.Sprintf("%d key creations in period: %d for clients holding a privileged scope, %d of them with a second person's approval spent in the same etcd transaction (a ticket is no second person's approval); %d for other clients, %d of them with a ticket (the change record that authorised it, to sample in the ticketing system); %d rotations of keys of clients holding a privileged scope (each a new privileged key), %d of them with a second person's approval spent in the same etcd transaction; %d rotations of other clients' keys, %d of them with a ticket%s",
		k.creates, k.priv, k.approved, k.ordinary, k.ticketed, k.rotations, k.rotApproved, k.ordRotations, k.ordRotTicketed, noneToShow(k.creates+k.rotations+k.ordRotations+k.unverified+k.unmadeN))
	if len(k.without) > 0 {
		f += "; WITHOUT what they must show: " + strings.Join(k.without, ", ")
		if n := k.priv - k.approved + k.ordinary - k.ticketed + k.rotations - k.rotApproved + k.ordRotations - k.ordRotTicketed; n > len(k.without) {
			f += fmt.Sprintf(" and %d more", n-len(k.without))
		}
	}
	if k.unverified > 0 {
		f += fmt.Sprintf("; %d key events flagged, not verified (the change each describes is not in its etcd transaction: see the lifecycle log's unverified column), showing nothing, counted above in neither kind: %s",
			k.unverified, strings.Join(k.notShown, ", "))
		if k.unverified > len(k.notShown) {
			f += fmt.Sprintf(" and %d more", k.unverified-len(k.notShown))
		}
	}
	return f + k.unmadeFact()
}

// unmadeFact names the keys never made, and the records past the tally's
// bound, for fact.
func (k *keyCreations) unmadeFact() string {
	var f string
	if k.unmadeN > 0 {
		f = fmt.Sprintf("; %d keys that authenticated requests in the period or have a key record in etcd have no key.create or key.rotate event in the trail nor a policy document: %s", k.unmadeN, strings.Join(k.unmade, ", "))
		if k.unmadeN > len(k.unmade) {
			f += fmt.Sprintf(" and %d more", k.unmadeN-len(k.unmade))
		}
		f += " (put into etcd by hand, or made before the trail began: nothing here shows them approved)"
	}
	f += k.unmadeNote
	if k.unmadeOver > 0 {
		f += fmt.Sprintf("; %d requests named keys past the first %d the pack keeps, not checked for an event that made them", k.unmadeOver, maxKeysUsed)
	}
	return f
}

// countKeyEvent counts the key.create or key.rotate event ev into kc: a
// creation by its client's kind, a rotation by whether its client held a
// privileged scope at its revision (privAt), either apart when the
// follower stored it unverified.
func (b *builder) countKeyEvent(kc *keyCreations, ev *collector.Event, privAt func(string, int64) bool, samples map[string]*approvalSample) {
	d := eventDetails(ev.Details)
	priv := privAt(d["client"], ev.Revision)
	rotate := ev.Action == etcdadmin.ActionKeyRotate
	switch {
	case ev.Unverified != "" && rotate:
		kc.addUnverified(rotationName(ev.Target, d["new_key"]))
	case ev.Unverified != "":
		kc.addUnverified(mdCell(ev.Target))
	case rotate && !priv:
		// An ordinary key's successor is a new credential: it shows
		// its ticket as a creation of one does.
		kc.addOrdinaryRotation(ev.Target, d["new_key"], !etcdadmin.Blank(ev.Ticket))
	case rotate:
		_, _, approved := b.keyCreateApproval(ev, samples)
		kc.addRotation(ev.Target, d["new_key"], approved)
	default:
		_, _, approved := b.keyCreateApproval(ev, samples)
		kc.add(ev.Target, priv, approved, !etcdadmin.Blank(ev.Ticket))
	}
}

// privilegedClientAt returns a function reporting whether a client held
// a privileged scope in the policy in force at an etcd revision: the last
// push at or before it in the history, else the pack's policy. A client
// the policy does not name counts as privileged (deny on doubt: its key
// must show an approval).
func (b *builder) privilegedClientAt() func(client string, rev int64) bool {
	docs := map[int64]*policy.Document{}
	return func(client string, rev int64) bool {
		d := b.doc
		for i := len(b.cfg.History) - 1; i >= 0; i-- {
			if e := b.cfg.History[i]; e.Revision <= rev {
				if docs[e.Revision] == nil {
					if doc, err := loadDoc(e); err == nil {
						docs[e.Revision] = doc
					}
				}
				if docs[e.Revision] != nil {
					d = docs[e.Revision]
				}
				break
			}
		}
		priv := map[string]bool{}
		for _, s := range d.Scopes {
			priv[s.Name] = s.Privileged
		}
		for _, c := range d.Clients {
			if c.ID == client {
				for _, sc := range c.Scopes {
					if priv[sc] {
						return true
					}
				}
				return false
			}
		}
		return true
	}
}
