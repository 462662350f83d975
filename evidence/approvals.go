package evidence

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// approvalSample is one approval of the period, put together from its
// lifecycle events and the audit records that name it.
type approvalSample struct {
	id, client, route, requester, reason, ticket string
	requested, decided                           time.Time
	state, approver, note, maxUses, expires      string
	uses                                         []string // request ids of the approval.use events
	allowed, refused                             int      // audit records naming the approval
	unverified                                   []string
	// grantActor is who ran the grant; requestUser and grantUser the etcd
	// users the request and the grant were written as ("" without etcd
	// authentication).
	grantActor, requestUser, grantUser string
	// requestUserCell and grantUserCell are the pack's cells for them:
	// the etcd user an event's key binds, or that it is bound to no
	// person (etcdUserCell).
	requestUserCell, grantUserCell string
	// policyRevision is, for an approval of a policy push, the policy
	// revision its request was asked against (the approval.request
	// event's policy_revision).
	policyRevision string
	// weakensDigest is, for an approval of a policy push, the SHA-256 of
	// the weakening list its request computed (the approval.request
	// event's weakens_sha256, etcdadmin.WeakeningsDigest); "" from a CLI
	// before the list was bound.
	weakensDigest string
	// requestRev is the etcd revision of its approval.request event (0
	// without one).
	requestRev int64
	from       time.Time // the period's start
}

// approvalSamples writes every approval requested, decided or used in the
// period (issue 20: "approval ticket or workflow sample"): who asked, why
// and under which ticket, who granted or denied it and when, each use
// with its request id, and the audit records that named it, flagged when
// something is off (a use without a grant in the period, no ticket, an
// event not verified against etcd).
func (b *builder) approvalSamples() ([]byte, error) {
	samples, order := b.approvals()
	for id, s := range samples {
		if c := b.tally.approvals[id]; c != nil {
			s.allowed, s.refused = int(c[0]), int(c[1])
		}
	}
	// The requests naming an approval id no event of the period names
	// have no row: one line says how many, where they were shown nowhere
	// below the bound (TestPackTellsOfRequestsNamingNoApprovalOfThePeriod).
	var unrowed [2]int64
	var ids, unknown int
	for id, c := range b.tally.approvals {
		if samples[id] != nil {
			continue
		}
		unrowed[0], unrowed[1], ids = unrowed[0]+c[0], unrowed[1]+c[1], ids+1
		if !b.tally.knownApprovals[id] {
			unknown++
		}
	}
	if unrowed != [2]int64{} {
		b.warn("%d allowed and %d refused requests of the period named %d approval ids no approval event of the period names, %d of them none of the trail's (made up by the sender, or their events lost: see any INCOMPLETE line): they are in no row of %s",
			unrowed[0], unrowed[1], ids, unknown, FileName("APIPrivileged", "ApprovalSamples", b.cfg.Period.Name, "csv"))
	}
	if over := b.tally.approvalsOver; over != [2]int64{} {
		// An approval of the trail is counted by id however many made-up
		// ids came first (approvalids.go): every row holds its own.
		b.warn("%d allowed and %d refused requests named approval ids past the first %d made up (named by no approval event of the trail) the pack counts by id: they are counted together, in no row of %s",
			over[0], over[1], maxApprovalIDs, FileName("APIPrivileged", "ApprovalSamples", b.cfg.Period.Name, "csv"))
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"approval_id", "client", "route", "requested", "requester", "reason", "ticket", "decision", "decided",
		"approver", "note", "max_uses", "expires", "uses", "use_request_ids", "allowed_requests", "refused_requests", "flag",
		"request_etcd_user", "grant_etcd_user"})
	for _, id := range order {
		s := samples[id]
		// The requester, approver and note of a grant are its details'
		// text, an operator's: cleared as the event's reason is
		// (clearOperatorText).
		w.Write(csvCells(s.id, s.client, s.route, rfc(s.requested), collector.RedactText(s.requester), s.reason, s.ticket, first(s.state, "none in period"), rfc(s.decided),
			collector.RedactText(s.approver), collector.RedactText(s.note), s.maxUses, s.expires, strconv.Itoa(len(s.uses)), strings.Join(s.uses, " "),
			strconv.Itoa(s.allowed), strconv.Itoa(s.refused), s.flag(), s.requestUserCell, s.grantUserCell))
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// approvals folds the period's approval events into one sample per
// approval, in the order of their first event. An approval requested or
// decided before the period (b.approvalsBefore) keeps that request and
// decision: a grant at the end of May used in June is a grant.
func (b *builder) approvals() (map[string]*approvalSample, []string) {
	samples := map[string]*approvalSample{}
	var order []string
	for i := range b.events {
		ev := &b.events[i]
		if strings.HasPrefix(ev.Action, "approval.") && samples[ev.Target] == nil {
			samples[ev.Target] = &approvalSample{id: ev.Target, from: b.cfg.Period.From}
			order = append(order, ev.Target)
		}
	}
	for i := range b.approvalsBefore {
		if s := samples[b.approvalsBefore[i].Target]; s != nil {
			s.add(&b.approvalsBefore[i], b.cfg.Prefix)
		}
	}
	for i := range b.events {
		if ev := &b.events[i]; strings.HasPrefix(ev.Action, "approval.") {
			samples[ev.Target].add(ev, b.cfg.Prefix)
		}
	}
	return samples, order
}

// decisionsBefore returns the approval requests, grants and denials of
// all (every lifecycle event, in storage order) dated before p.
func decisionsBefore(all []collector.Event, p Period) []collector.Event {
	var out []collector.Event
	for i := range all {
		switch all[i].Action {
		case etcdsync.ActionApprovalRequest, etcdsync.ActionApprovalGrant, etcdsync.ActionApprovalDeny:
			if all[i].Time.Before(p.From) {
				out = append(out, all[i])
			}
		}
	}
	return out
}

// add applies one approval event to s, of the deployment under prefix
// (Config.Prefix: the directory that binds its etcd user, etcduser.go).
func (s *approvalSample) add(ev *collector.Event, prefix string) {
	var d map[string]string
	json.Unmarshal(ev.Details, &d) // a malformed detail leaves the columns empty
	s.client, s.route = first(s.client, d["client"]), first(s.route, d["route"])
	s.requester, s.maxUses = first(s.requester, d["requester"]), first(s.maxUses, d["max_uses"])
	s.ticket = first(s.ticket, ev.Ticket)
	switch {
	case leaseUnchecked(ev): // handwritten.go
		s.unverified = append(s.unverified, ev.Action+"("+etcdadmin.FlagLeaseUnchecked+")")
	case ev.Unverified != "":
		s.unverified = append(s.unverified, ev.Action)
	}
	switch ev.Action {
	case etcdsync.ActionApprovalRequest:
		s.requested, s.reason = ev.Time, ev.Reason
		s.requestUser, s.requestUserCell = eventUser(ev, d, prefix), etcdUserCell(ev, d, prefix) // etcduser.go
		s.policyRevision, s.requestRev = d["policy_revision"], ev.Revision
		s.weakensDigest = d["weakens_sha256"]
	case etcdsync.ActionApprovalGrant:
		s.state, s.decided, s.approver, s.note, s.expires = etcdsync.ApprovalGranted, ev.Time, d["approver"], d["note"], d["expires"]
		s.grantActor, s.grantUser, s.grantUserCell = ev.Actor, eventUser(ev, d, prefix), etcdUserCell(ev, d, prefix)
	case etcdsync.ActionApprovalDeny:
		s.state, s.decided, s.approver, s.note = etcdsync.ApprovalDenied, ev.Time, ev.Actor, ev.Reason
	case etcdsync.ActionApprovalUse:
		s.uses = append(s.uses, first(d["request_id"], "unknown"))
	}
}

// flag says what an auditor should look at in s, "" when nothing.
func (s *approvalSample) flag() string {
	var f []string
	if s.requested.IsZero() || s.requested.Before(s.from) {
		f = append(f, "requested before the period")
	}
	if len(s.uses) > 0 && s.state != etcdsync.ApprovalGranted {
		f = append(f, "used without a grant in the period")
	}
	switch {
	case s.byRequester():
		f = append(f, "approved by its requester")
	case s.selfApproved():
		f = append(f, "requested as etcd user "+strconv.Quote(s.requestUser)+" and granted as "+strconv.Quote(s.grantUser)+", one a shared etcd identity naming no person: no second person shown")
	}
	if etcdadmin.Blank(s.ticket) {
		f = append(f, "no ticket")
	}
	if len(s.unverified) > 0 {
		f = append(f, "unverified event: "+strings.Join(slices.Compact(s.unverified), " "))
	}
	return strings.Join(f, "; ")
}

// selfApproved reports whether s was granted by its requester as
// approvals grant tells them apart (etcdadmin.GrantApproval, which
// refuses it): the approver or who ran the grant is the requester but for
// case, spaces, invisible characters, Unicode form, accents and lookalike
// letters (etcdadmin.SamePerson), or the grant was written as the
// request's etcd user, or either was written as an etcd user naming no
// person (etcdadmin.SharedEtcdUser: the operators' shared certificate).
// The trail holds such a grant only when it was written to etcd without
// the CLI. A requester withdrawing their own request (a denial) is not
// one.
func (s *approvalSample) selfApproved() bool {
	if s.state != etcdsync.ApprovalGranted || s.requester == "" {
		return false
	}
	return s.byRequester() || etcdadmin.SharedEtcdUser(s.requestUser) || etcdadmin.SharedEtcdUser(s.grantUser)
}

// byRequester reports whether the granted s names its requester as its
// approver or grant's runner, or was granted as the request's etcd user or
// another of the same person's (etcdadmin.SameEtcdPerson: person+device).
func (s *approvalSample) byRequester() bool {
	if s.state != etcdsync.ApprovalGranted || s.requester == "" {
		return false
	}
	return etcdadmin.SamePerson(s.approver, s.requester) || s.grantActor != "" && etcdadmin.SamePerson(s.grantActor, s.requester) ||
		s.requestUser != "" && s.grantUser != "" && etcdadmin.SameEtcdPerson(s.grantUser, s.requestUser)
}

// first returns a, or b when a is empty.
func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
