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
	// Consume takes one use of the approval id for client on route
	// (policy.Route.RouteName, "POST /v1/exports") at now and reports
	// whether it admits the request. It must fail closed: an unknown,
	// pending, denied, expired or used-up approval, one for another
	// client or route, or an error reaching the ledger, is false.
	// requestID links the use to the request's audit record. It may
	// block for a network round trip; it is called only for routes that
	// require an approval.
	Consume(id []byte, client, route string, requestID []byte, now time.Time) bool
}

// hdrApproval names the approval a request to such a route uses. Like
// every X-Portcullis-* header it is never forwarded (forward.go).
const hdrApproval = "X-Portcullis-Approval"

// approve checks the approval of a request to a route that requires one:
// X-Portcullis-Approval must name an approval the ledger admits for this
// client and route. The id goes into the audit record, used or refused.
// A request without a well-formed id never gets here (decide refuses it
// before the limits); one refused without asking the ledger (no ledger)
// gets back the tokens limit took; one the ledger refused keeps them, as
// the ledger's answer cost an etcd round trip, so made-up ids cannot
// read etcd beyond the client's rate limit. The concurrency slot is
// released when the request settles.
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
		if s.cfg.Approvals.Consume(id, x.client.ID, x.route.Approval.Route, x.reqID, time.Unix(0, x.at)) {
			return audit.Allowed
		}
		return audit.ApprovalRequired
	}
	for _, t := range x.takes {
		s.buckets.RefundAt(t.Key, *t.Limit, 1, x.mono)
	}
	return audit.ApprovalRequired
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
