package etcdadmin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// policyPushPrefix starts the route name of an approval for a policy
// push; the document's SHA-256 follows, so a grant admits that document
// and no other (PolicyPushRoute).
const policyPushPrefix = "policy push sha256:"

// PolicyPushRoute is the route name of an approval for pushing the policy
// document whose SHA-256 is digest (hex, as policy history shows it). Its
// client is "": a push is for the whole deployment.
func PolicyPushRoute(digest string) string { return policyPushPrefix + strings.ToLower(digest) }

// IsPolicyPushRoute reports whether route is a PolicyPushRoute.
func IsPolicyPushRoute(route string) bool {
	d, ok := strings.CutPrefix(route, policyPushPrefix)
	if !ok || len(d) != 64 || strings.ToLower(d) != d {
		return false
	}
	_, err := hex.DecodeString(d)
	return err == nil
}

// pushApproval returns the compares and writes that spend the approval
// meta.Approval on the push of doc (its SHA-256 digest, parsed as next)
// over the policy st holds, when the push weakens the two-person controls
// (policy.Weakenings); nothing when it does not. A push that weakens them
// without a usable approval of that document, or that names an approval
// it does not need, is refused with ErrNotApproved: one operator's push
// could otherwise turn privileged_key_approval off, or write a
// privileged client's key into the document, and undo alone what takes
// two people through keys create (TestPushThatWeakensNeedsApproval).
func (a *Admin) pushApproval(ctx context.Context, st *etcdsync.State, next *policy.Document, digest string, meta Meta) ([]clientv3.Cmp, []clientv3.Op, error) {
	cur, err := a.inForce(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	weak, err := a.weakenings(ctx, cur, next)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case len(weak) == 0 && meta.Approval != "":
		return nil, nil, fmt.Errorf("this push weakens no two-person control (%s), so approval %q would not be used: leave --approval out: %w", policy.WeakeningKindNames(), meta.Approval, ErrNotApproved)
	case len(weak) == 0:
		return nil, nil, nil
	case meta.Approval == "":
		return nil, nil, fmt.Errorf("this push weakens the two-person controls (%s), so it needs a second person's approval of this document (sha256 %s): run portcullis approvals request --policy FILE --reason TEXT, have a second person run portcullis approvals grant ID --policy FILE, then push again with --approval ID: %w",
			weakSummary(weak), digest, ErrNotApproved)
	}
	cmps, ops, err := a.approvalUse(ctx, meta.Approval, "", PolicyPushRoute(digest), st.PolicyRevision, meta)
	if err != nil {
		return nil, nil, fmt.Errorf("this push weakens the two-person controls (%s) and needs an approval granted for this document (route %q): %w", weakSummary(weak), PolicyPushRoute(digest), err)
	}
	// The use's compares hold the record at the revision read here.
	ap, _, asked, err := a.approvalRecord(ctx, meta.Approval)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNotApproved, err)
	}
	if err := sameWeakenings(ap, weak); err != nil {
		return nil, nil, err
	}
	if err := a.noKeysSince(ctx, st, cur, next, ap.ID, asked); err != nil {
		return nil, nil, err
	}
	return cmps, ops, nil
}

// WeakeningsDigest returns the SHA-256 (hex) of the weakenings weak, in
// order, each ended by a newline, "" for none: what an approval of a
// policy push binds (etcdsync.Approval.WeakeningsDigest), and what
// policy diff prints beside the list.
func WeakeningsDigest(weak []string) string {
	if len(weak) == 0 {
		return ""
	}
	h := sha256.New()
	for _, w := range weak {
		h.Write([]byte(w))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sameWeakenings refuses the approval ap of a push whose weakenings, weak,
// computed now, are not the list its request computed (its
// WeakeningsDigest): the approver let through that list. The document
// and the policy revision (sameBase) hold it in most cases; it moves with
// them held when the policy history the comparison reads for a route put
// back (policy.FormerRouteWeakenings) is written by hand, or when the CLI
// that pushes holds other weakening rules than the one that asked
// (TestPushApprovalBindsItsWeakeningList). A record without the digest
// (asked before the binding, or written by hand) is refused too: a push
// approval lives an hour at most, and is asked again.
func sameWeakenings(ap etcdsync.Approval, weak []string) error {
	got := WeakeningsDigest(weak)
	if ap.WeakeningsDigest == got {
		return nil
	}
	if ap.WeakeningsDigest == "" {
		return fmt.Errorf("approval %q names no weakening list (asked by a CLI before the binding, or written by hand), so it cannot show its approver read what this push weakens (%s); request it again: %w", ap.ID, weakSummary(weak), ErrNotApproved)
	}
	return fmt.Errorf("approval %q binds the weakening list of sha256 %s, and this push weakens the two-person controls by another (sha256 %s: %s): the policy history or the weakening rules changed since it was asked, and its approver did not read this list; request it again: %w",
		ap.ID, ap.WeakeningsDigest, got, weakSummary(weak), ErrNotApproved)
}

// noKeysSince refuses the push of next over cur with approval id (its
// record created at revision asked) when a
// client next gives a privileged scope (while cur has
// privileged_key_approval on) has a key record in etcd (at st's revision,
// which the push's transaction holds) created after the approval was
// requested. The approver reviewed the client's keys, which become
// privileged credentials; a key made since (keys create needed no
// approval for a client not yet privileged) is one no second person saw,
// and the approval names the document and the policy revision, not the
// keys (TestPushApprovalDoesNotCoverKeysMadeSince; before, the requester
// made a key after the grant and spent it).
func (a *Admin) noKeysSince(ctx context.Context, st *etcdsync.State, cur, next *policy.Document, id string, asked int64) error {
	given := policy.NewlyPrivileged(cur, next)
	if given == nil {
		return nil
	}
	resp, err := a.cli.Get(ctx, a.k.KeysDir(), clientv3.WithPrefix(), clientv3.WithRev(st.Revision))
	if err != nil {
		return fmt.Errorf("cannot read the key records under %q: %w", a.k.KeysDir(), err)
	}
	for _, kv := range resp.Kvs {
		var k policy.KeySpec
		if kv.CreateRevision <= asked || json.Unmarshal(kv.Value, &k) != nil || !given[k.Client] {
			continue
		}
		return fmt.Errorf("key %q of client %q, which this push gives a privileged scope, was made at revision %d, after approval %q was requested (revision %d): the approver did not see it, and it would become a privileged credential; request the approval again: %w",
			k.ID, k.Client, kv.CreateRevision, id, asked, ErrNotApproved)
	}
	return nil
}

// inForce returns the policy st holds as a document to compare a push
// with. One that does not load (written by hand), or none (deleted by
// hand: the sidecars keep the policy they had), is no baseline a push
// could be let off against: the newest pushed document in the history
// that loads stands for it, else an empty one (a first push weakens
// nothing). Before, a policy deleted by hand made the next push a first
// one, which turned privileged_key_approval off on one person's word
// (TestPushOverADeletedPolicyIsComparedWithTheHistory).
func (a *Admin) inForce(ctx context.Context, st *etcdsync.State) (*policy.Document, error) {
	doc, err := a.loadableDoc(ctx, st)
	if doc == nil && err == nil {
		return &policy.Document{}, nil
	}
	return doc, err
}

// loadableDoc returns the policy st holds when it loads, else the newest
// pushed document of the history that loads, else nil: the policy the
// sidecars keep (inForce for a push, policyDoc for a rotation).
func (a *Admin) loadableDoc(ctx context.Context, st *etcdsync.State) (*policy.Document, error) {
	if doc, err := policy.Load(a.k.Policy(), []byte(st.Policy)); st.Policy != "" && err == nil {
		return doc, nil
	}
	hist, err := a.PolicyHistory(ctx, 0)
	if err != nil {
		return nil, err
	}
	for i := len(hist) - 1; i >= 0; i-- {
		if doc, err := policy.Load(a.k.Policy(), []byte(hist[i].Document)); err == nil {
			return doc, nil
		}
	}
	return nil, nil
}

// policyRequest returns the client and route of an approval request for
// pushing document (ApprovalRequest.Policy), which must load, and the
// weakenings it makes of the policy in force, for the request's event.
func (a *Admin) policyRequest(ctx context.Context, st *etcdsync.State, document []byte) (string, []string, error) {
	next, err := policy.Load("policy", document)
	if err != nil {
		return "", nil, fmt.Errorf("the document to approve does not load: %w", err)
	}
	cur, err := a.inForce(ctx, st)
	if err != nil {
		return "", nil, err
	}
	weak, err := a.weakenings(ctx, cur, next)
	return PolicyPushRoute(next.SourceDigest()), weak, err
}

// weakenings is policy.Weakenings of next over cur, with the routes of
// next that put back a route of an earlier pushed document with less
// checked (policy.FormerRouteWeakenings): the history, newest first, is
// read only for a route of next that no route of cur serves, and loaded
// only as far as such a route needs.
func (a *Admin) weakenings(ctx context.Context, cur, next *policy.Document) ([]string, error) {
	var err error
	earlier := func(yield func(*policy.Document) bool) {
		// Read only when a route of next serves what no route of cur
		// does: most pushes read no history.
		var hist []HistoryEntry
		if hist, err = a.PolicyHistory(ctx, 0); err != nil {
			return
		}
		for i := len(hist) - 1; i >= 0; i-- {
			doc, _ := policy.Load(a.k.Policy(), []byte(hist[i].Document)) // nil for one that does not load
			if !yield(doc) {
				return
			}
		}
	}
	weak := append(policy.Weakenings(cur, next), policy.FormerRouteWeakenings(cur, next, earlier)...)
	if err != nil {
		return nil, err
	}
	return weak, nil
}

// maxWeakListed bounds the weakenings an error or an event lists: a
// document that adds thousands of keys would make the approval.request
// event too large for the collector's store.
const maxWeakListed = 20

// weakSummary joins the weakenings, the first maxWeakListed of them, and
// says how many it leaves out and where they all are: the approval binds
// the whole document, so the approver must be able to read every one
// (PushWeakenings, policy diff FILE; TestPolicyDiffListsEveryWeakeningThePushCuts).
func weakSummary(weak []string) string {
	if len(weak) <= maxWeakListed {
		return strings.Join(weak, "; ")
	}
	return fmt.Sprintf("%s; and %d more (portcullis policy diff FILE lists all %d)", strings.Join(weak[:maxWeakListed], "; "), len(weak)-maxWeakListed, len(weak))
}

// PushWeakenings returns every way a push of document (which must load)
// would weaken the two-person controls of the policy in etcd now, uncut,
// and the revision of that policy: what an approval of the document
// covers, whose request's event and the push's refusal list only the
// first maxWeakListed. Nothing for a document whose push needs no
// approval.
func (a *Admin) PushWeakenings(ctx context.Context, document []byte) ([]string, int64, error) {
	st, err := etcdsync.ReadState(ctx, a.cli, a.k)
	if err != nil {
		return nil, 0, err
	}
	_, weak, err := a.policyRequest(ctx, st, document)
	return weak, st.PolicyRevision, err
}

// policyBase is the PolicyRevision of a request for req read at st: the
// policy revision its weakenings were computed against, for a policy
// push; 0 for any other approval.
func policyBase(req ApprovalRequest, st *etcdsync.State) int64 {
	if req.Policy == nil {
		return 0
	}
	return st.PolicyRevision
}

// sameBase refuses an approval of a policy push (ap) whose request was
// asked against another policy revision than rev, the one in etcd now.
// The approver reads what the request's event says the document weakens,
// computed against the policy of its time; pushed over another policy,
// the same document may weaken something else (a route a push in between
// added or tightened), which nobody approved
// (TestPushApprovalBoundToItsPolicyRevision). A record without the
// revision (asked before this check, or written by hand) is refused too:
// a push approval lives an hour at most, and is asked again.
func sameBase(ap etcdsync.Approval, rev int64) error {
	if !IsPolicyPushRoute(ap.Route) || ap.PolicyRevision == rev {
		return nil
	}
	return fmt.Errorf("approval %q was asked against the policy at revision %d, and the policy in etcd is at revision %d: what the document weakens was computed against the older one, so the approval may not cover what this push changes; request it again: %w",
		ap.ID, ap.PolicyRevision, rev, ErrNotApproved)
}
