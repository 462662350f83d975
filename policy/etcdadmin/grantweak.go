package etcdadmin

import (
	"context"
	"errors"
	"fmt"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// ErrWeakeningsMoved refuses the grant of a policy push's approval whose
// document, compared with the policy the request was asked against, now
// weakens another list than the one its request bound (WeakeningsDigest).
var ErrWeakeningsMoved = errors.New("etcdadmin: the document's weakening list is not the one its approval request bound")

// grantedWeakenings checks the grant of ap, read with the state st (whose
// policy revision sameBase holds to the request's), against document:
// for an approval of a policy push it must be the document the route
// names, and what it weakens of the policy in force (weakenings, as the
// push computes it) must be the list the request bound. The approver
// reads the request's list; the policy history a route put back is
// compared with can be written by hand, and a CLI of other weakening
// rules computes another list, with the document and the policy revision
// unchanged, and the grant let the approver sign a list the push and the
// evidence pack then refuse (TestGrantRefusesAPushApprovalWhoseWeakeningListMoved).
// Any other approval takes no document (nil).
func (a *Admin) grantedWeakenings(ctx context.Context, st *etcdsync.State, ap etcdsync.Approval, document []byte) error {
	switch {
	case !IsPolicyPushRoute(ap.Route) && document == nil:
		return nil
	case !IsPolicyPushRoute(ap.Route):
		return fmt.Errorf("approval %q is for %q, not a policy push: grant it without a document", ap.ID, ap.Route)
	case document == nil:
		return fmt.Errorf("approval %q is for a policy push (%s): grant it with the document (portcullis approvals grant %s --policy FILE), whose weakening list the grant computes again: %w", ap.ID, ap.Route, ap.ID, ErrWeakeningsMoved)
	}
	next, err := policy.Load("policy", document)
	if err != nil {
		return fmt.Errorf("the document to grant approval %q for does not load: %w", ap.ID, err)
	}
	if r := PolicyPushRoute(next.SourceDigest()); r != ap.Route {
		return fmt.Errorf("the document given is %q, but approval %q is for %q: grant it with the document its request names: %w", r, ap.ID, ap.Route, ErrWeakeningsMoved)
	}
	cur, err := a.inForce(ctx, st)
	if err != nil {
		return err
	}
	weak, err := a.weakenings(ctx, cur, next)
	if err != nil {
		return err
	}
	if got := WeakeningsDigest(weak); got != ap.WeakeningsDigest {
		return fmt.Errorf("approval %q binds the weakening list of sha256 %q, and the document weakens the policy at revision %d by another now (sha256 %q: %s): the policy history or the weakening rules changed since it was asked, and its approver would not read this list; request it again: %w",
			ap.ID, ap.WeakeningsDigest, st.PolicyRevision, got, weakSummary(weak), ErrWeakeningsMoved)
	}
	return nil
}
