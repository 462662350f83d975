package dataplane

import (
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/valyala/fasthttp"
)

// ApprovalLedger counts the uses of approvals across a deployment: the
// two-person rule of issue 20. The sidecar wires the etcd one
// (etcdsync.Ledger); the data plane never talks to etcd itself.
type ApprovalLedger interface {
	// Reserve holds one use of the approval id for client on route
	// (policy.Route.RouteName, "POST /v1/exports") at now for the request
	// requestID (which the use's record names), or returns nil when it
	// does not admit the request. It must fail closed: an unknown,
	// pending, denied, expired or used-up approval, one for another
	// client or route, one whose every use other requests hold, or an
	// error reaching the ledger, is nil. A use held counts against the
	// approval's uses everywhere until it is spent or given back, and
	// goes back by itself when the holder dies. It may block for network
	// round trips; it is called only for routes that require an approval.
	Reserve(id []byte, client, route string, requestID []byte, now time.Time) ApprovalHold
	// Outlasts returns an error unless a use Reserve holds stays held
	// longer than wait, the longest a request of this data plane waits
	// between Reserve and Commit (ApprovalWait): a hold that lapsed
	// first would give the use back, or to another request, under its
	// own. New refuses a ledger that does not outlast it, so a longer
	// upstream timeout cannot silently outgrow the hold.
	Outlasts(wait time.Duration) error
}

// ApprovalWait is the longest a request waits between reserving a use of
// an approval and spending it with its upstream connection in hand
// (roundTrip): the pool's wait for a connection, at most upstreamTimeout
// (MaxConnWaitTimeout), and a dial, at most fasthttp's dial timeout.
func ApprovalWait(upstreamTimeout time.Duration) time.Duration {
	return upstreamTimeout + fasthttp.DefaultDialTimeout
}

// ApprovalHold is a use of an approval an ApprovalLedger holds for one
// request, until the request is sent or refused.
type ApprovalHold interface {
	// Commit spends the use at now and reports whether the request may
	// be sent. False (the approval withdrawn or expired meanwhile, the
	// hold lapsed, the ledger not answering) refuses the request, and the
	// hold is over.
	Commit(now time.Time) bool
	// Release gives the use back, for a request refused after Reserve.
	Release()
}

// hdrApproval names the approval a request to such a route uses. Like
// every X-Portcullis-* header it is never forwarded (forward.go).
const hdrApproval = "X-Portcullis-Approval"

// approve reserves the approval of a request to a route that requires
// one: X-Portcullis-Approval must name an approval the ledger admits for
// this client and route, and one of its uses is held for the request
// (x.hold) until roundTrip spends it, after the judgement with the
// upstream connection in hand, or gives it back. The id goes into the
// audit record, used or refused. A request without a well-formed id never
// gets here (decide refuses it before the limits); one refused without
// asking the ledger (no ledger) gets back the tokens limit took; one the
// ledger refused keeps them, as the ledger's answer cost an etcd round
// trip, so made-up ids cannot read etcd beyond the client's rate limit.
// The concurrency slot is released when the request settles.
func (s *Server) approve(_ *fasthttp.RequestCtx, x *exchange) audit.Decision {
	id := x.hdr.approval // the header section's (headers.go), never a trailer's
	if x.client == nil {
		return audit.ApprovalRequired // a public route requires none (policy.Compile): fail closed
	}
	valid := validApprovalID(id)
	if valid {
		x.rec.SetApprovalID(id)
	}
	if valid && s.cfg.Approvals != nil {
		if h := s.cfg.Approvals.Reserve(id, x.client.ID, x.route.Approval.Route, x.reqID, time.Unix(0, x.at)); h != nil {
			x.hold, x.held, x.heldBy = h, x.route.Approval.Route, x.client.ID
			return audit.Allowed
		}
		return audit.ApprovalRequired
	}
	for _, t := range x.takes {
		s.buckets.RefundAt(t.Key, *t.Limit, 1, x.mono)
	}
	return audit.ApprovalRequired
}

// approvalStep is what roundTrip does about the approval of a request
// judged with its upstream connection in hand (spend).
type approvalStep uint8

const (
	approvalDone    approvalStep = iota // none required, or spent: send
	approvalReserve                     // reserve one, without the connection, and judge again
	approvalRefused                     // the held use could not be spent: refuse
)

// spend ends the approval of a request judged, with its upstream
// connection in hand, to be sent: a use held for its route is spent now
// (Commit), so that a request refused by that judgement (its key revoked
// or its client suspended while it reserved or waited) gives it back
// instead (TestApprovalGivenBackOnRequestRefusedAtSend). A request
// without a hold for its route and client (none yet, or its route or
// client changed by a new decision: an approval is one client's,
// TestApprovalHeldForAnotherClientGivenBack) is sent to reserve one; one
// whose route no longer requires an approval gives back what it held.
func (s *Server) spend(x *exchange) approvalStep {
	a := x.route.Approval
	var client string
	if x.client != nil {
		client = x.client.ID
	}
	switch {
	case a == nil || x.spent == a.Route && x.spentBy == client:
		s.unhold(x)
		return approvalDone
	case x.held != a.Route || x.heldBy != client:
		s.unhold(x)
		return approvalReserve
	}
	h := x.hold
	x.hold, x.held, x.heldBy = nil, "", ""
	if !h.Commit(time.Unix(0, x.at)) {
		return approvalRefused
	}
	x.spent, x.spentBy = a.Route, client
	return approvalDone
}

// unhold gives back the use x holds, if any: its request is refused, or
// no longer needs it.
func (s *Server) unhold(x *exchange) {
	if x.hold != nil {
		x.hold.Release()
		x.hold, x.held, x.heldBy = nil, "", ""
	}
}

// validApprovalID reports whether id has the form of an approval id
// (etcdsync.ValidApprovalID): 1 to audit.MaxApproval bytes of lowercase
// letters, digits, '_' and '-'. Anything else is refused unread.
func validApprovalID(id []byte) bool {
	if len(id) == 0 || len(id) > audit.MaxApproval {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
