package evidence

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// weakPush is a policy push of the period whose document weakened the
// two-person controls of the policy before it (policy.Weakenings), with
// the approval its policy.push event names and whether an approval.use
// event of the same etcd transaction spent it.
type weakPush struct {
	entry    etcdadmin.HistoryEntry
	weak     []string
	approval string
	spent    bool
	// self: the approval was granted by its requester, as the approval
	// samples flag it (approvalSample.selfApproved): no second person.
	self bool
	// rules are the weakening rules the push's CLI checked (its
	// policy.push event's weakening_rules, 1 when it names none): a push
	// whose document weakens only by kinds added since (policy.
	// WeakeningRules) needed no approval when it was made.
	rules int
	older bool
	// askedAt and base, when set: the policy revision the approval was
	// asked against (its approval.request event's policy_revision) and
	// the one the push replaced (its policy.push event's
	// previous_revision), which differ.
	askedAt, base string
	// listAsked and listPushed, when set: the SHA-256 of the weakening
	// list the approval's request computed (its approval.request event's
	// weakens_sha256) and of the one the push weakens by, which differ.
	listAsked, listPushed string
	// unbound: the approval's request names no weakening list digest
	// (asked by a CLI before the list was bound), so nothing shows its
	// approver read what this push weakens.
	unbound bool
	// keySince, when set, names a key made for a client this push gives
	// a privileged scope after its approval was asked (keysSince).
	keySince string
}

// weakeningPushes returns the pushes of the period that weakened the
// two-person controls. portcullis policy push refuses such a push
// without a second person's approval, spent in the transaction that
// writes it; an operator who writes the policy into etcd by hand (the
// operator role may) gets past the CLI, and the pack is where that shows:
// a weakening push whose revision holds no policy.push event naming an
// approval, or no verified approval.use of that approval for this
// document (route "policy push sha256:<its digest>"), is flagged. The policy
// before a push is the newest one before it that loads, as PushPolicy
// compares with.
func (b *builder) weakeningPushes() []weakPush {
	h, p := b.cfg.History, b.cfg.Period
	samples, _ := b.approvals() // approvals.go
	docs := make([]*policy.Document, len(h))
	loaded := make([]bool, len(h))
	doc := func(j int) *policy.Document { // loadDoc(h[j]), nil for one that does not load
		if !loaded[j] {
			docs[j], _ = loadDoc(h[j])
			loaded[j] = true
		}
		return docs[j]
	}
	var out []weakPush
	for i := 1; i < len(h); i++ {
		if !p.Contains(h[i].Time) {
			continue
		}
		next := doc(i)
		if next == nil {
			continue
		}
		j := i - 1
		for ; j >= 0 && doc(j) == nil; j-- {
		}
		if j < 0 {
			continue // the first that loads: it weakens nothing
		}
		prev := doc(j)
		// The pushes before prev, newest first: a route of next that
		// puts back one they had is compared with it as it last was.
		earlier := func(yield func(*policy.Document) bool) {
			for k := j - 1; k >= 0 && yield(doc(k)); k-- {
			}
		}
		former := policy.FormerRouteWeakenings(prev, next, earlier)
		weak := append(policy.Weakenings(prev, next), former...)
		if len(weak) == 0 {
			continue
		}
		w := weakPush{entry: h[i], weak: weak}
		var base string
		for k := range b.events {
			ev := &b.events[k]
			if ev.Revision == h[i].Revision && ev.Unverified == "" && ev.Action == etcdadmin.ActionPolicyPush {
				d := eventDetails(ev.Details)
				w.approval, base = d["approval"], d["previous_revision"]
				w.rules, _ = strconv.Atoi(cmp.Or(d["weakening_rules"], "1"))
			}
		}
		// A push the CLI of an older release made, with no weakening
		// its rules knew of: no approval was asked for, and "written by
		// hand?" would be a false alarm on every pack whose period
		// spans an upgrade. Named apart (flag), not hidden. A push with
		// no event at all is judged by today's rules: nothing says a
		// CLI checked it.
		//
		// The event is the operator's word, as its details are (the
		// follower checks only that the policy was put at its
		// revision): one who writes a push by hand can name rules 1, or
		// none. Once a push of today's rules is in the trail, the
		// deployment's CLI is of them, so an older one after it is no
		// upgrade's leftover and is flagged as a push past the CLI.
		//
		// The rules the push is judged by are the newer of its event's
		// and those of the verified pushes below it: a push naming rules
		// 1 after one of rules 2 is held to rules 2's kinds.
		if in := max(w.rules, b.rulesInUseBefore(h[i].Revision)); w.rules > 0 && in < policy.WeakeningRules && w.approval == "" {
			// Rules before 3 did not hold FormerRouteWeakenings; rules 3
			// on did (before rules 4, in < WeakeningRules meant in < 3).
			w.older = len(policy.WeakeningsUnder(prev, next, in)) == 0 && (in < 3 || len(former) == 0)
		}
		// The use must be of an approval of this document: a grant for a
		// route, or for another document, spent by hand with the push is
		// no second person's word on it (the follower checks a use's route
		// against its grant's).
		sum := sha256.Sum256([]byte(h[i].Document))
		route := etcdadmin.PolicyPushRoute(hex.EncodeToString(sum[:]))
		for k := range b.events {
			ev := &b.events[k]
			if w.approval != "" && ev.Revision == h[i].Revision && ev.Unverified == "" && ev.Action == etcdsync.ActionApprovalUse && ev.Target == w.approval &&
				eventDetails(ev.Details)["route"] == route {
				w.spent = true
			}
		}
		// Judged whether or not its use was verified: the follower flags
		// the use of a self-granted approval unverified
		// (etcdadmin.selfGrantProblem), and "named but never spent" would
		// hide why.
		if s := samples[w.approval]; w.approval != "" && s != nil {
			w.self = s.selfApproved()
			// The CLI refuses an approval asked against another policy
			// revision than the one the push replaces (etcdadmin.
			// sameBase): what the document weakens was computed against
			// that one. A push written past the CLI is held to it here.
			if !s.requested.IsZero() && s.policyRevision != base {
				w.askedAt, w.base = cmp.Or(s.policyRevision, "none named"), cmp.Or(base, "none named")
			}
			w.sameList(s)
			w.keySince = b.keySince(prev, next, s.requestRev, h[i].Revision)
		}
		out = append(out, w)
	}
	return out
}

// sameList compares the weakening list w's push weakens by with the one
// its approval's request s computed, by their SHA-256 as the CLI takes
// it (etcdadmin.WeakeningsDigest): the push refuses an approval binding
// another list (etcdadmin.sameWeakenings), and one written past the CLI
// is held to it here. A request not in the trail is compared with
// nothing; one naming no digest is an older CLI's (unbound).
func (w *weakPush) sameList(s *approvalSample) {
	if s.requested.IsZero() {
		return
	}
	if s.weakensDigest == "" {
		w.unbound = true
		return
	}
	if got := etcdadmin.WeakeningsDigest(w.weak); s.weakensDigest != got {
		w.listAsked, w.listPushed = s.weakensDigest, got
	}
}

// keySince names the first key the trail shows made (a key.create, or
// the new key of a key.rotate) between an approval's request at revision
// asked and the push at revision push for a client the push of next over
// prev gives a privileged scope, while prev has privileged_key_approval
// on: the push makes it a privileged credential no second person saw.
// The CLI refuses such a push (etcdadmin.noKeysSince); one written past
// it is flagged here. "" for none, or when the request is not in the
// trail (asked 0). A key.create event not verified counts: it raises a
// flag, it clears none.
func (b *builder) keySince(prev, next *policy.Document, asked, push int64) string {
	given := policy.NewlyPrivileged(prev, next)
	if asked == 0 || given == nil {
		return ""
	}
	for k := range b.allEvents {
		ev := &b.allEvents[k]
		d := eventDetails(ev.Details)
		key := ev.Target
		switch ev.Action {
		case etcdadmin.ActionKeyRotate:
			key = d["new_key"]
		case etcdadmin.ActionKeyCreate:
		default:
			continue
		}
		if ev.Revision > asked && ev.Revision < push && given[d["client"]] {
			return fmt.Sprintf("key %s of client %s was made at revision %d, after the approval was asked (revision %d)", key, d["client"], ev.Revision, asked)
		}
	}
	return ""
}

// rulesInUseBefore returns the newest weakening rules a verified
// policy.push event of the trail (of the period or before it) below
// revision rev names; 0 for none.
func (b *builder) rulesInUseBefore(rev int64) int {
	in := 0
	for k := range b.allEvents {
		ev := &b.allEvents[k]
		if ev.Revision < rev && ev.Unverified == "" && ev.Action == etcdadmin.ActionPolicyPush {
			if n, err := strconv.Atoi(eventDetails(ev.Details)["weakening_rules"]); err == nil {
				in = max(in, n)
			}
		}
	}
	return in
}

// flag says what a weakening push lacks, or "" when a second person's
// approval was spent on it: one its requester granted is no second
// person's.
func (w *weakPush) flag() string {
	switch {
	case w.older:
		return "weakens the two-person controls only by kinds its release did not hold to an approval (its policy.push event names weakening rules " +
			strconv.Itoa(w.rules) + ", before " + strconv.Itoa(policy.WeakeningRules) + "): no approval was asked for; check the change was reviewed"
	case w.approval == "":
		return "weakens the two-person controls without an approval (no policy.push event naming one at its revision: written by hand?)"
	case w.self:
		return "weakens the two-person controls; approval " + w.approval + " named, but granted by its requester (no second person; see the approval samples)"
	case !w.spent:
		return "weakens the two-person controls; approval " + w.approval + " named but no approval.use of it for this document in the same etcd transaction"
	case w.askedAt != "":
		return "weakens the two-person controls; approval " + w.approval + " was asked against the policy at revision " + w.askedAt +
			", but the push replaced revision " + w.base + ": what the document weakens of that one was not what the approver read"
	case w.listAsked != "":
		return "weakens the two-person controls; approval " + w.approval + " binds the weakening list of sha256 " + w.listAsked +
			", but the push weakens by another (sha256 " + w.listPushed + "): its approver did not read this list (written past the CLI, which refuses it?)"
	case w.keySince != "":
		return "weakens the two-person controls; approval " + w.approval + " spent, but " + w.keySince +
			" for a client this push gives a privileged scope: a privileged credential the approver did not see (written past the CLI, which refuses it?)"
	case w.unbound:
		return "weakens the two-person controls; approval " + w.approval + " spent, but asked before the list was bound (its approval.request names no weakens_sha256: an older CLI's), so nothing shows its approver read this list; check the change was reviewed"
	}
	return ""
}

// unseen says, briefly, why a push whose second person's approval was
// spent in its transaction is flagged all the same, its approver not
// having read what it did; "" for a push not flagged, or flagged for
// lacking such an approval (flag says which). The reason names no value
// of the trail: the lifecycle log's row does, escaped as a cell.
func (w *weakPush) unseen() string {
	if w.older || w.approval == "" || w.self || !w.spent {
		return ""
	}
	switch {
	case w.askedAt != "":
		return "the approval was asked against another policy revision than the one the push replaced"
	case w.listAsked != "":
		// The asked digest is the request's word: quoted as a cell.
		return "the approval binds the weakening list of sha256 " + mdCell(w.listAsked) + ", the push weakens by that of sha256 " + w.listPushed
	case w.keySince != "":
		return "a key made since the approval was asked, of a client it makes privileged"
	}
	return ""
}

// pushHistoryRead reports whether the pack read etcd's push history: a
// pack built from a policy file (HistoryFromFile) has one entry of
// revision 0, and no push of the period to judge, which is no Yes.
func (b *builder) pushHistoryRead() bool {
	for _, e := range b.cfg.History {
		if e.Revision > 0 {
			return true
		}
	}
	return false
}
