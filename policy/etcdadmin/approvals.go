package etcdadmin

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/text/unicode/norm"
)

// Errors of the approval operations; match them with errors.Is.
var (
	// ErrSelfApproval refuses a grant by the approval's own requester:
	// the two-person rule of issue 20.
	ErrSelfApproval = errors.New("etcdadmin: an approval cannot be granted by its requester")
	// ErrNotApproved refuses an operation that needs a granted approval
	// (RequireApproval) and was given none that is usable.
	ErrNotApproved = errors.New("etcdadmin: no usable approval")
	// ErrRewritten refuses the grant of a pending record written again
	// after its request: it is no longer the request its approval.request
	// event records.
	ErrRewritten = errors.New("etcdadmin: approval record rewritten since its request")
)

// KeysCreateRoute is the route name of an approval for `keys create`
// (RequireApproval): operations that are not HTTP routes are named by
// their command.
const KeysCreateRoute = "keys create"

// KeysRotateRoute is the route name of an approval for `keys rotate` of
// a privileged client's key: a kind apart from KeysCreateRoute, so that
// the approver reads whether the request is for a new key or for a
// successor, and neither kind is spent on the other (keyApproval).
const KeysRotateRoute = "keys rotate"

// operationRoutes are the route names an approval may have besides the
// policy's routes that require one.
var operationRoutes = map[string]bool{KeysCreateRoute: true, KeysRotateRoute: true}

// ApprovalRequest is what `approvals request` asks for.
type ApprovalRequest struct {
	Client string // the client that will make the request
	Route  string // "METHOD template" of a policy route that requires approval, KeysCreateRoute or KeysRotateRoute
	// Policy, when not nil, asks instead for the push of this policy
	// document (PolicyPushRoute of its SHA-256; no client and no route
	// given): a push that weakens the two-person controls needs one.
	Policy []byte
}

// RequestApproval stores a pending approval for req with an
// approval.request event and returns it. The requester is meta.Actor and
// meta.Reason is required, and meta.Ticket under the policy's
// lifecycle.require_ticket (ErrTicketRequired). The route must be one of the policy's routes
// that require an approval (its max_uses and max_age are taken from the
// policy) or an operation, KeysCreateRoute or KeysRotateRoute (one use,
// one hour).
func (a *Admin) RequestApproval(ctx context.Context, req ApprovalRequest, meta Meta) (etcdsync.Approval, error) {
	if strings.TrimSpace(meta.Reason) == "" {
		return etcdsync.Approval{}, errors.New("an approval request needs a reason")
	}
	if visible(meta.Actor) == "" {
		return etcdsync.Approval{}, fmt.Errorf("an approval request needs its requester's name (--actor), not %q: the two-person rule compares it with the approver's", meta.Actor)
	}
	if SharedEtcdUser(meta.EtcdUser) {
		// grantable refuses every grant of such a request: stored, it
		// would wait for a grant that cannot come
		// (TestSharedEtcdUserIsNoSecondPerson).
		return etcdsync.Approval{}, fmt.Errorf("etcd user %q is a shared or program identity that names no person, so no grant of a request written as it could be shown to be a second person's; request it with your own etcd user: %w", meta.EtcdUser, ErrSelfApproval)
	}
	st, doc, err := a.current(ctx)
	if err != nil {
		return etcdsync.Approval{}, err
	}
	var weak []string
	switch {
	case req.Policy != nil && (req.Client != "" || req.Route != ""):
		return etcdsync.Approval{}, errors.New("an approval of a policy push names the document only, no client or route")
	case IsPolicyPushRoute(req.Route):
		return etcdsync.Approval{}, fmt.Errorf("route %q is a policy push's: ask for it with the document (approvals request --policy FILE), which names no client", req.Route)
	case req.Policy != nil:
		if req.Route, weak, err = a.policyRequest(ctx, st, req.Policy); err != nil { // pushapproval.go
			return etcdsync.Approval{}, err
		}
		if len(weak) == 0 {
			// A grant nobody needs is one the push would refuse
			// ("would not be used"), and an approver's signature on a
			// change that needed none.
			return etcdsync.Approval{}, fmt.Errorf("the document weakens no two-person control of the policy at revision %d (%s), so its push needs no approval: push it without --approval; no approval was requested", st.PolicyRevision, policy.WeakeningKindNames())
		}
	case !hasClient(doc, req.Client):
		return etcdsync.Approval{}, fmt.Errorf("client %q is not in the policy at revision %d: %w", req.Client, st.PolicyRevision, ErrNotFound)
	}
	if err := ticketed(doc, etcdsync.ActionApprovalRequest, req.Client, meta); err != nil { // lifecycle.go
		return etcdsync.Approval{}, err
	}
	rule, err := approvalRule(doc, req.Route)
	if err != nil {
		return etcdsync.Approval{}, err
	}
	id, err := newApprovalID()
	if err != nil {
		return etcdsync.Approval{}, err
	}
	now := a.now().UTC()
	ap := etcdsync.Approval{
		ID: id, Client: req.Client, Route: req.Route, State: etcdsync.ApprovalPending, Requester: meta.Actor, RequesterEtcdUser: meta.EtcdUser,
		Reason: meta.Reason, Ticket: meta.Ticket, Requested: now, MaxUses: rule.MaxUses, MaxAge: rule.MaxAge.String(),
		PolicyRevision: policyBase(req, st), WeakeningsDigest: WeakeningsDigest(weak),
		// Counted on the counter the grant creates; the stored uses say
		// "used up" to binaries from before it (etcdsync.Approval.UsesCounter).
		UsesCounter: true, Uses: rule.MaxUses,
	}
	put, err := putJSON(a.k.Approval(id), ap)
	if err != nil {
		return ap, err
	}
	details := approvalDetails(ap)
	if len(weak) > 0 {
		// What the approver is asked to let through, as the policy in
		// force reads now.
		details["weakens"] = weakSummary(weak)
		details["policy_revision"] = strconv.FormatInt(st.PolicyRevision, 10)
	}
	ev, err := a.eventOp(now, etcdsync.ActionApprovalRequest, id, meta, details)
	if err != nil {
		return ap, err
	}
	rev, err := a.commit(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(a.k.Approval(id)), "=", 0)}, put, ev)
	if err == nil && rev == 0 {
		err = fmt.Errorf("approval id %q already taken: %w", id, ErrExists)
	}
	return ap, err
}

// approvalRule returns the approval route requires: the policy route's
// (its own, else its class's), or the default one for an operation.
func approvalRule(doc *policy.Document, route string) (*policy.Approval, error) {
	if operationRoutes[route] || IsPolicyPushRoute(route) {
		return &policy.Approval{MaxUses: policy.DefaultApprovalUses, MaxAge: policy.DefaultApprovalAge, Route: route}, nil
	}
	var names []string
	inPolicy := false
	for _, rs := range doc.Routes {
		name := rs.Method + " " + rs.Path
		inPolicy = inPolicy || name == route
		spec := rs.Approval
		if spec == nil {
			spec = classApproval(doc, rs.Class)
		}
		rule, err := policy.ParseApproval(spec)
		if err != nil || rule == nil {
			continue
		}
		if name == route {
			rule.Route = name
			return rule, nil
		}
		names = append(names, strconv.Quote(name))
	}
	names = append(names, strconv.Quote(KeysCreateRoute), strconv.Quote(KeysRotateRoute), strconv.Quote(policyPushPrefix+"<digest>")+" (approvals request --policy FILE)")
	if !inPolicy {
		return nil, fmt.Errorf("route %q is not in the policy; routes that need an approval: %s: %w", route, strings.Join(names, ", "), ErrNotFound)
	}
	return nil, fmt.Errorf("route %q requires no approval in the policy; routes that do: %s: %w", route, strings.Join(names, ", "), ErrNotFound)
}

func classApproval(doc *policy.Document, class string) *policy.ApprovalSpec {
	for _, c := range doc.Classes {
		if c.Name == class {
			return c.Approval
		}
	}
	return nil
}

// newApprovalID returns a fresh approval id, "apr_" and 16 hex digits.
func newApprovalID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cannot read random bytes for an approval id: %w", err)
	}
	return "apr_" + hex.EncodeToString(b[:]), nil
}

// approvalDetails are the event details of a change to ap.
func approvalDetails(ap etcdsync.Approval) map[string]string {
	d := map[string]string{"client": ap.Client, "route": ap.Route, "requester": ap.Requester,
		"max_uses": strconv.Itoa(ap.MaxUses), "max_age": ap.MaxAge}
	if ap.Approver != "" {
		d["approver"] = ap.Approver
	}
	if ap.Note != "" {
		d["note"] = ap.Note
	}
	if !ap.Expires.IsZero() {
		d["expires"] = ap.Expires.Format(time.RFC3339)
	}
	if ap.WeakeningsDigest != "" {
		d["weakens_sha256"] = ap.WeakeningsDigest
	}
	return d
}

// GrantApproval grants the pending approval id as approver (who must not
// be its requester: ErrSelfApproval) with note, writes it on a new etcd
// lease of its max_age, so that it disappears when it expires, and
// writes an approval.grant event. meta.Actor is recorded as who ran the
// command; the approver is in the record and the event's details. An
// approval of a policy push is granted with its document
// (GrantPolicyApproval) and refused here.
func (a *Admin) GrantApproval(ctx context.Context, id, approver, note string, meta Meta) (etcdsync.Approval, error) {
	return a.grant(ctx, id, nil, approver, note, meta)
}

// GrantPolicyApproval is GrantApproval of the approval id of a policy
// push, given document, the policy document its route names by SHA-256:
// the grant computes again what the document weakens of the policy the
// request was asked against, and refuses it when that list is not the
// one the request bound (grantedWeakenings).
func (a *Admin) GrantPolicyApproval(ctx context.Context, id string, document []byte, approver, note string, meta Meta) (etcdsync.Approval, error) {
	if document == nil {
		document = []byte{}
	}
	return a.grant(ctx, id, document, approver, note, meta)
}

// grant is GrantApproval, with the document of a policy push's approval
// (nil: none given).
func (a *Admin) grant(ctx context.Context, id string, document []byte, approver, note string, meta Meta) (etcdsync.Approval, error) {
	if visible(approver) == "" {
		return etcdsync.Approval{}, fmt.Errorf("a grant needs an approver's name, not %q", approver)
	}
	for range attempts {
		st, doc, err := a.current(ctx)
		if err != nil {
			return etcdsync.Approval{}, err
		}
		ap, rev, created, err := a.approvalRecord(ctx, id)
		if err != nil {
			return ap, err
		}
		if err := unrewritten(ap, rev, created); err != nil {
			return ap, err
		}
		if err := grantable(ap, approver, meta); err != nil {
			return ap, err
		}
		if ap, err = policyLimits(ap, doc, st.PolicyRevision); err != nil {
			return ap, err
		}
		if err := sameBase(ap, st.PolicyRevision); err != nil { // pushapproval.go
			return ap, err
		}
		if err := a.grantedWeakenings(ctx, st, ap, document); err != nil { // grantweak.go
			return ap, err
		}
		ap, ok, err := a.grantAt(ctx, ap, rev, st.PolicyRevision, approver, note, meta)
		if ok || err != nil {
			return ap, err
		}
	}
	return etcdsync.Approval{}, fmt.Errorf("approval grant of %q lost %d races: %w", id, attempts, ErrConflict)
}

// policyLimits returns ap with the limits of the policy doc (at revision
// rev) in force at its grant: its route must still require an approval,
// and its max_uses and max_age are at most the policy's, so a request
// asked under a looser policy, or a record rewritten in etcd since, is
// granted no more than the policy allows now.
func policyLimits(ap etcdsync.Approval, doc *policy.Document, rev int64) (etcdsync.Approval, error) {
	rule, err := approvalRule(doc, ap.Route)
	if err != nil {
		return ap, fmt.Errorf("approval %q cannot be granted under the policy at revision %d: %w", ap.ID, rev, err)
	}
	if ap.MaxUses < 1 || ap.MaxUses > rule.MaxUses {
		ap.MaxUses = rule.MaxUses
	}
	if age, err := time.ParseDuration(ap.MaxAge); err != nil || age <= 0 || age > rule.MaxAge {
		ap.MaxAge = rule.MaxAge.String()
	}
	ap.Uses = ap.MaxUses // used up to binaries from before the counter
	return ap, nil
}

// unrewritten refuses a pending record ap, at mod revision rev, that was
// written again after its request created it at revision created. The
// CLI writes a pending record once (RequestApproval, with its
// approval.request event), so a later write is by hand, with the
// operator's etcd role: a requester swapping the client or route after
// the approver read it, or naming someone else as the requester to grant
// it herself. Granted, such a record got a real approval.grant event
// and read as a second person's grant of what the request asked.
func unrewritten(ap etcdsync.Approval, rev, created int64) error {
	if ap.State != etcdsync.ApprovalPending || rev == created {
		return nil
	}
	return fmt.Errorf("approval %q was requested at revision %d and written again at revision %d, so it is not the request its approval.request event records (client, route, requester); request it again: %w", ap.ID, created, rev, ErrRewritten)
}

// grantable says why ap cannot be granted by approver in a command run
// as meta, or nil. The requester can neither be named the approver nor
// run the grant (meta.Actor), whatever case, spaces, invisible
// characters, Unicode form or lookalike letters tell the names apart
// (SamePerson), and with etcd
// authentication the grant cannot be written as the request's etcd user
// or another of the same person's (SameEtcdPerson), nor either be
// written as an etcd user naming no person
// (SharedEtcdUser).
func grantable(ap etcdsync.Approval, approver string, meta Meta) error {
	switch {
	case ap.State != etcdsync.ApprovalPending:
		return fmt.Errorf("approval %q is %s, not pending", ap.ID, ap.State)
	case visible(ap.Requester) == "":
		return fmt.Errorf("approval %q names no requester (%q), so no grant can be told apart from one by its requester; request it again: %w", ap.ID, ap.Requester, ErrSelfApproval)
	case SamePerson(ap.Requester, approver):
		return fmt.Errorf("approval %q was requested by %q, who cannot also grant it; ask a second person: %w", ap.ID, ap.Requester, ErrSelfApproval)
	case meta.Actor != "" && SamePerson(ap.Requester, meta.Actor):
		return fmt.Errorf("approval %q was requested by %q, who cannot run its grant in another's name; ask %q to run it: %w", ap.ID, ap.Requester, approver, ErrSelfApproval)
	case ap.RequesterEtcdUser != "" && meta.EtcdUser == ap.RequesterEtcdUser:
		return fmt.Errorf("approval %q was requested as etcd user %q, and a grant written as the same etcd user is not a second person's; grant it with another etcd user: %w", ap.ID, meta.EtcdUser, ErrSelfApproval)
	case ap.RequesterEtcdUser != "" && meta.EtcdUser != "" && SameEtcdPerson(meta.EtcdUser, ap.RequesterEtcdUser):
		return fmt.Errorf("approval %q was requested as etcd user %q, and etcd user %q is the same person's (%q: person+device), so a grant written as it is not a second person's; ask a second person: %w", ap.ID, ap.RequesterEtcdUser, meta.EtcdUser, EtcdPerson(meta.EtcdUser), ErrSelfApproval)
	case SharedEtcdUser(ap.RequesterEtcdUser):
		return fmt.Errorf("approval %q was requested as etcd user %q, a shared or program identity that names no person, so no grant can be shown to be a second person's; request it again with your own etcd user: %w", ap.ID, ap.RequesterEtcdUser, ErrSelfApproval)
	case SharedEtcdUser(meta.EtcdUser):
		return fmt.Errorf("etcd user %q is a shared or program identity that names no person, so a grant written as it is no second person's; grant approval %q with your own etcd user: %w", meta.EtcdUser, ap.ID, ErrSelfApproval)
	}
	return nil
}

// SharedEtcdUser reports whether the etcd user names no person: etcd's
// root, or a portcullis- user, a program's (portcullis-collector,
// portcullis-sidecar, portcullis-policy-push) or the operators' shared
// certificate (portcullis-operator), whose holders deploy/kubernetes
// does not tell apart (its roles Job refuses either name for a person).
// The two-person checks count neither side of an approval written as
// one as a person's: alice requesting with the shared certificate and
// granting with her own, claiming another's name, wrote two etcd users
// but is one person (TestSharedEtcdUserIsNoSecondPerson). It errs
// towards shared: case is ignored.
//
// The person is the user's (EtcdPerson): root+laptop and
// portcullis-operator+x name no person either.
func SharedEtcdUser(user string) bool {
	l := strings.ToLower(EtcdPerson(user))
	return l == "root" || strings.HasPrefix(l, "portcullis-")
}

// EtcdPersonSeparator splits an etcd user name into the person it belongs
// to and a device: the roles Job of deploy/kubernetes names a person's
// first etcd user (the common name of their certificate) by the person
// (ops-alice) and each further one person+device (ops-alice+laptop), and
// refuses a "+" in any other place. Its OPERATORS list is thus the
// mapping from etcd user to person, kept by whoever runs the Job.
const EtcdPersonSeparator = "+"

// EtcdPerson returns the person the etcd user belongs to: the name before
// the first EtcdPersonSeparator, or the whole name without one. Two etcd
// users of one person (two personal certificates) are one person to the
// two-person checks (SameEtcdPerson): before, alice requested as
// ops-alice and granted as ops-alice+laptop, a second person's grant
// (TestEtcdUsersOfOnePersonAreNoSecondPerson). A person given a second
// user outside the rule (ops-alice and alice-laptop) is two people to
// every check: nothing in the names tells them apart.
func EtcdPerson(user string) string {
	person, _, _ := strings.Cut(user, EtcdPersonSeparator)
	return person
}

// SameEtcdPerson reports whether the etcd users a and b belong to the
// same person (EtcdPerson), the names compared as SamePerson compares
// people's: it errs towards the same.
func SameEtcdPerson(a, b string) bool {
	return a == b || SamePerson(EtcdPerson(a), EtcdPerson(b))
}

// SamePerson reports whether the names a and b are the same but for case,
// spaces, invisible characters (Unicode format characters such as the
// zero-width space), Unicode form (NFC or NFD, fullwidth, ligatures:
// compatibility decomposition), accents (combining marks) and the
// Cyrillic and Greek letters that look like Latin ones, none of which a
// terminal or the evidence pack shows: the two-person rule's test of a
// grant, which the evidence pack applies to the grants in the trail too.
// It errs towards the same: two people whose names differ only so ask a
// third to grant.
func SamePerson(a, b string) bool {
	return strings.EqualFold(skeleton(a), skeleton(b))
}

// skeleton is name as SamePerson compares it: decomposed (NFKD), without
// spaces, format characters and combining marks, and with each letter
// that looks like a Latin one (lookalikes) replaced by it.
func skeleton(name string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me) {
			return -1
		}
		if l, ok := lookalikes[r]; ok {
			return l
		}
		return r
	}, norm.NFKD.String(name))
}

// lookalikes maps the Cyrillic and Greek letters (and Latin dotless i)
// that show as a Latin letter in common fonts to that letter (after
// Unicode's confusables, UTS #39, for these scripts only).
var lookalikes = map[rune]rune{
	// Cyrillic capitals and small letters.
	'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H', 'О': 'O', 'Р': 'P', 'С': 'C', 'Т': 'T',
	'Х': 'X', 'У': 'Y', 'Ѕ': 'S', 'І': 'I', 'Ј': 'J', 'Ԁ': 'D', 'Ԛ': 'Q', 'Ԝ': 'W', 'Ӏ': 'I',
	'а': 'a', 'е': 'e', 'о': 'o', 'р': 'p', 'с': 'c', 'у': 'y', 'х': 'x', 'ѕ': 's', 'і': 'i', 'ј': 'j',
	'ԁ': 'd', 'һ': 'h', 'ԛ': 'q', 'ԝ': 'w', 'ӏ': 'l', 'ɡ': 'g',
	// Greek capitals and small letters.
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N', 'Ο': 'O',
	'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X',
	'α': 'a', 'ι': 'i', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'υ': 'u',
	// Latin dotless i.
	'ı': 'i',
}

// visible returns s without spaces and format characters.
func visible(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
}

// grantAt writes the grant of ap if its record is still at rev. The record
// goes on a lease of its max_age; its use counter is created in the same
// transaction (so its create revision is the grant's mod revision) on a
// second lease, of max_age plus etcdsync.UseRetention, that holds nothing
// else (etcdsync.Approval.UsesLease). A counter already there (only a
// sidecar credential could have put one) is deleted first. The grant is
// written only while the policy is still at policyRev, whose limits ap
// holds (policyLimits).
func (a *Admin) grantAt(ctx context.Context, ap etcdsync.Approval, rev, policyRev int64, approver, note string, meta Meta) (etcdsync.Approval, bool, error) {
	age, err := time.ParseDuration(ap.MaxAge)
	if err != nil || age <= 0 {
		return ap, false, fmt.Errorf("approval %q has an invalid max_age %q", ap.ID, ap.MaxAge)
	}
	if !ap.UsesCounter {
		return ap, false, fmt.Errorf("approval %q was requested by a version before the use counter, which cannot count its uses: request it again", ap.ID)
	}
	lease, err := a.cli.Grant(ctx, int64(math.Ceil(age.Seconds())))
	if err != nil {
		return ap, false, fmt.Errorf("cannot create the lease of approval %q: %w", ap.ID, err)
	}
	uses, err := a.cli.Grant(ctx, int64(math.Ceil((age + etcdsync.UseRetention).Seconds())))
	if err != nil {
		a.cli.Revoke(context.WithoutCancel(ctx), lease.ID) // best effort: it lapses anyway
		return ap, false, fmt.Errorf("cannot create the uses lease of approval %q: %w", ap.ID, err)
	}
	now := a.now().UTC()
	ap.State, ap.Approver, ap.Note, ap.Decided, ap.Expires = etcdsync.ApprovalGranted, approver, note, now, now.Add(age)
	ap.UsesLease = int64(uses.ID)
	counter := a.k.ApprovalCounter(ap.ID)
	// A counter left from before (a sidecar's etcd role may put one) is
	// cleared only while the record is still the one read: a concurrent
	// grant that won has moved the record and created its own counter,
	// which this loser must leave alone.
	cleared, err := a.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(a.k.Approval(ap.ID)), "=", rev)).Then(clientv3.OpDelete(counter)).Commit()
	if err != nil || !cleared.Succeeded {
		a.cli.Revoke(context.WithoutCancel(ctx), lease.ID) // best effort: they lapse anyway
		a.cli.Revoke(context.WithoutCancel(ctx), uses.ID)
		if err != nil {
			return ap, false, writeError(err, fmt.Sprintf("cannot clear the use counter of approval %q", ap.ID), "the grant itself was not written, and clearing the counter again is harmless: run the grant again")
		}
		return ap, false, nil
	}
	create, err := putJSON(counter, etcdsync.ApprovalUse{}, clientv3.WithLease(uses.ID))
	if err != nil {
		return ap, false, err
	}
	// The grant's event carries the note and the request's ticket unless
	// the approver gave others, so the trail reads without the record.
	meta.Reason, meta.Ticket = cmp.Or(meta.Reason, note), cmp.Or(meta.Ticket, ap.Ticket)
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(counter), "=", 0), clientv3.Compare(clientv3.ModRevision(a.k.Policy()), "=", policyRev)}
	ok, err := a.decide(ctx, ap, rev, etcdsync.ActionApprovalGrant, meta, cmps, []clientv3.Op{create}, clientv3.WithLease(lease.ID))
	if !ok {
		a.cli.Revoke(context.WithoutCancel(ctx), lease.ID) // best effort: they lapse anyway
		a.cli.Revoke(context.WithoutCancel(ctx), uses.ID)
	}
	return ap, ok, err
}

// decide writes ap with its event, and ops, if its record is still at rev
// and cmps hold.
func (a *Admin) decide(ctx context.Context, ap etcdsync.Approval, rev int64, action string, meta Meta, cmps []clientv3.Cmp, ops []clientv3.Op, opts ...clientv3.OpOption) (bool, error) {
	put, err := putJSON(a.k.Approval(ap.ID), ap, opts...)
	if err != nil {
		return false, err
	}
	ev, err := a.eventOp(ap.Decided, action, ap.ID, meta, approvalDetails(ap))
	if err != nil {
		return false, err
	}
	cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(a.k.Approval(ap.ID)), "=", rev))
	got, err := a.commit(ctx, cmps, append(ops, put, ev)...)
	return got != 0, err
}

// DenyApproval denies the approval id, pending or granted (a grant is
// withdrawn: the sidecars refuse it from their next watch event), with an
// approval.deny event; approver is who denies (default meta.Actor, who
// runs the command), note why (default meta.Reason).
func (a *Admin) DenyApproval(ctx context.Context, id, approver, note string, meta Meta) (etcdsync.Approval, error) {
	approver, note = cmp.Or(approver, meta.Actor), cmp.Or(note, meta.Reason)
	for range attempts {
		ap, rev, err := a.approval(ctx, id)
		if err != nil {
			return ap, err
		}
		if ap.State == etcdsync.ApprovalDenied {
			return ap, fmt.Errorf("approval %q is already denied", id)
		}
		var opts []clientv3.OpOption
		if ap.State == etcdsync.ApprovalGranted {
			if ap.UsesCounter && ap.UsesRev == 0 {
				ap.UsesRev = rev // the counter's create revision, which the denial's write moves the record off
			}
			// A granted record lives on its grant's lease (max_age): the
			// denial keeps it there, where a plain put took it off, and the
			// withdrawn grant stayed in etcd for ever
			// (TestDeniedGrantKeepsItsLease).
			opts = append(opts, clientv3.WithIgnoreLease())
		}
		ap.State, ap.Approver, ap.Note, ap.Decided = etcdsync.ApprovalDenied, approver, note, a.now().UTC()
		m := meta
		m.Ticket = cmp.Or(m.Ticket, ap.Ticket) // as a grant's: the trail reads without the record
		ok, err := a.decide(ctx, ap, rev, etcdsync.ActionApprovalDeny, m, nil, nil, opts...)
		if ok || err != nil {
			return ap, err
		}
	}
	return etcdsync.Approval{}, fmt.Errorf("approval deny of %q lost %d races: %w", id, attempts, ErrConflict)
}

// approval reads the record id and its mod revision.
func (a *Admin) approval(ctx context.Context, id string) (etcdsync.Approval, int64, error) {
	ap, rev, _, err := a.approvalRecord(ctx, id)
	return ap, rev, err
}

// approvalRecord reads the record id, its mod revision and its create
// revision.
func (a *Admin) approvalRecord(ctx context.Context, id string) (etcdsync.Approval, int64, int64, error) {
	if !etcdsync.ValidApprovalID(id) {
		return etcdsync.Approval{}, 0, 0, fmt.Errorf("%q is not an approval id (approvals list shows them): %w", id, ErrNotFound)
	}
	resp, err := a.cli.Get(ctx, a.k.Approval(id))
	if err != nil {
		return etcdsync.Approval{}, 0, 0, fmt.Errorf("cannot read approval %q: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return etcdsync.Approval{}, 0, 0, fmt.Errorf("approval %q: none in etcd (never requested, or granted and expired: its events stay in the trail): %w", id, ErrNotFound)
	}
	ap, err := etcdsync.DecodeApproval(resp.Kvs[0].Value)
	if err == nil && ap.ID != id {
		err = fmt.Errorf("the record names approval %q", ap.ID)
	}
	if err != nil {
		return ap, 0, 0, fmt.Errorf("approval %q: %w", id, err)
	}
	return ap, resp.Kvs[0].ModRevision, resp.Kvs[0].CreateRevision, nil
}

// ShowApproval returns the approval id with its uses counted from its use
// counter (etcdsync.Approval.Count), and the time the last use claims.
func (a *Admin) ShowApproval(ctx context.Context, id string) (etcdsync.Approval, error) {
	ap, rev, err := a.approval(ctx, id)
	if err != nil {
		return ap, err
	}
	resp, err := a.cli.Get(ctx, a.k.ApprovalCounter(id))
	if err != nil {
		return ap, fmt.Errorf("cannot read the use counter of approval %q: %w", id, err)
	}
	var kv *mvccpb.KeyValue
	if len(resp.Kvs) == 1 {
		kv = resp.Kvs[0]
	}
	countUses(&ap, rev, kv)
	return ap, nil
}

// countUses sets the uses of ap, whose record is at mod revision rev,
// from kv, its counter (nil when there is none), and LastUse to the time
// the last use's record claims.
func countUses(ap *etcdsync.Approval, rev int64, kv *mvccpb.KeyValue) {
	// No counter before the grant: the stored MaxUses is for old binaries.
	// A request denied before any grant (no UsesRev, which a denial of a
	// grant records) had none either; it read as used up
	// (TestApprovalDeniedBeforeGrantShowsNoUse).
	if ap.State == etcdsync.ApprovalPending || ap.State == etcdsync.ApprovalDenied && ap.UsesCounter && ap.UsesRev == 0 {
		ap.Uses = 0
		return
	}
	ap.Count(rev, etcdsync.CounterOf(kv))
	if kv == nil || kv.Version < 2 {
		return
	}
	if u, err := etcdsync.DecodeApprovalUse(kv.Value); err == nil {
		ap.LastUse = u.Time
	}
}

// otherKeyKind refuses, naming what to request, the approval ap of one
// key operation (KeysCreateRoute, KeysRotateRoute) spent on the other,
// route: the approver granted a new key or a successor, not either. A
// keys create approval asked before the rotate kind existed, when keys
// rotate spent one, is refused for a rotation so too.
func otherKeyKind(ap etcdsync.Approval, route string) error {
	if ap.Route == route || !operationRoutes[ap.Route] || !operationRoutes[route] {
		return nil
	}
	return fmt.Errorf("approval %q was granted for %q of client %q, not for %q: the approver approved that operation, not this one; run portcullis approvals request --client %s --route %q, have a second person grant it, and pass its id with --approval: %w",
		ap.ID, ap.Route, ap.Client, route, ap.Client, route, ErrNotApproved)
}

// ListApprovals returns the approvals in etcd, newest request first, with
// their uses counted as ShowApproval does. A record that does not decode,
// or names another approval than its key, is left out; ApprovalRecords
// names it.
func (a *Admin) ListApprovals(ctx context.Context) ([]etcdsync.Approval, error) {
	out, _, err := a.ApprovalRecords(ctx)
	return out, err
}

// ApprovalRecords is ListApprovals with a line for each record left out,
// so that one bad record is not shown as an empty approval (one holding
// null or {}) or hidden without a word (one that does not decode).
func (a *Admin) ApprovalRecords(ctx context.Context) ([]etcdsync.Approval, []string, error) {
	resp, err := a.cli.Txn(ctx).Then(clientv3.OpGet(a.k.ApprovalsDir(), clientv3.WithPrefix()), clientv3.OpGet(a.k.ApprovalUsesDir(), clientv3.WithPrefix())).Commit()
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read approvals under %q: %w", a.k.ApprovalsDir(), err)
	}
	counters := map[string]*mvccpb.KeyValue{}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		if id, ok := a.k.ParseApprovalCounter(string(kv.Key)); ok {
			counters[id] = kv
		}
	}
	recs := resp.Responses[0].GetResponseRange().Kvs
	out := make([]etcdsync.Approval, 0, len(recs))
	var bad []string
	for _, kv := range recs {
		id := strings.TrimPrefix(string(kv.Key), a.k.ApprovalsDir())
		ap, err := etcdsync.DecodeApproval(kv.Value)
		if err == nil && ap.ID != id {
			err = fmt.Errorf("the record names approval %q", ap.ID)
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("approval record %q is invalid: %v", kv.Key, err))
			continue
		}
		countUses(&ap, kv.ModRevision, counters[ap.ID])
		out = append(out, ap)
	}
	slices.SortFunc(out, func(x, y etcdsync.Approval) int { return cmp.Compare(y.Requested.UnixNano(), x.Requested.UnixNano()) })
	return out, bad, nil
}

// RequireApproval takes one use of the approval id for client on route
// (an operation name such as KeysCreateRoute) and returns nil, or an error
// wrapping ErrNotApproved that says why not (missing, pending, denied,
// for another client or route, expired, used up). The use is a put of the
// approval's counter as a sidecar's (etcdsync.UseWrite), so a single-use
// approval admits one operation whoever runs it, with the use's
// approval.use event (eventOp: events/ or events-by/<user>/) in the same transaction. CreateKey
// does not call it: it takes the use in the transaction that writes the
// key (approvalUse), so a key that is not written spends none.
func (a *Admin) RequireApproval(ctx context.Context, id, client, route string, meta Meta) error {
	for range attempts {
		cmps, ops, err := a.approvalUse(ctx, id, client, route, 0, meta)
		if err != nil {
			return err
		}
		got, err := a.commit(ctx, cmps, ops...)
		if got != 0 || err != nil {
			return err
		}
	}
	return fmt.Errorf("approval use of %q lost %d races: %w", id, attempts, ErrConflict)
}

// approvalUse reads the approval id and its counter and returns the
// compares and the writes that take one use of it for client on route
// (the counter's put, naming the approval.use event written with it under
// events/ or the etcd user's events-by/ directory, which only an operator
// can write), or an error wrapping
// ErrNotApproved saying why it cannot be used.
func (a *Admin) approvalUse(ctx context.Context, id, client, route string, base int64, meta Meta) ([]clientv3.Cmp, []clientv3.Op, error) {
	if id == "" {
		return nil, nil, fmt.Errorf("%s for client %q needs an approval: run portcullis approvals request --client %s --route %q, have a second person grant it, and pass its id with --approval: %w", route, client, client, route, ErrNotApproved)
	}
	ap, rev, err := a.approval(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNotApproved, err)
	}
	resp, err := a.cli.Get(ctx, a.k.ApprovalCounter(id), clientv3.WithKeysOnly())
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the use counter of approval %q: %w", id, err)
	}
	var c etcdsync.Counter
	if len(resp.Kvs) == 1 {
		c = etcdsync.CounterOf(resp.Kvs[0])
	}
	ap.Count(rev, c)
	now := a.now().UTC()
	if why := ap.Problem(client, route, now); why != "" {
		if err := otherKeyKind(ap, route); err != nil {
			return nil, nil, err
		}
		if ap.Client == "" { // an approval of a policy push names no client
			return nil, nil, fmt.Errorf("approval %q for %q is %s: %w", id, ap.Route, why, ErrNotApproved)
		}
		return nil, nil, fmt.Errorf("approval %q for client %q on %q is %s: %w", id, ap.Client, ap.Route, why, ErrNotApproved)
	}
	if err := sameBase(ap, base); err != nil { // pushapproval.go; a policy push's only
		return nil, nil, err
	}
	d := approvalDetails(ap)
	d["use"] = strconv.Itoa(ap.Uses+1) + "/" + strconv.Itoa(ap.MaxUses)
	ev, err := a.eventOp(now, etcdsync.ActionApprovalUse, id, Meta{Actor: meta.Actor, EtcdUser: meta.EtcdUser, Reason: ap.Reason, Ticket: ap.Ticket}, d)
	if err != nil {
		return nil, nil, err
	}
	use := etcdsync.ApprovalUse{Client: client, Route: route, Actor: meta.Actor, EtcdUser: meta.EtcdUser, Event: string(ev.KeyBytes()), Time: now}
	cmps, put, err := etcdsync.UseWrite(a.k, &ap, rev, c, use)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNotApproved, err)
	}
	return cmps, []clientv3.Op{put, ev}, nil
}
