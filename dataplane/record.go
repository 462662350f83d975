package dataplane

import (
	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/limiter"
	"github.com/valyala/fasthttp"
)

// noPath is the audit path of a request with no normalised path.
var noPath = []byte("-")

// record, step 8 of the request path, fills the exchange's audit record
// and hands it to the sink. Only ids, names and sizes go in: never a
// credential, cookie, query or body.
func (s *Server) record(ctx *fasthttp.RequestCtx, x *exchange) {
	r := x.rec
	h := &ctx.Request.Header
	r.Time = x.wall
	r.Status = uint16(ctx.Response.StatusCode())
	if x.cut {
		r.Status = 0 // the connection was cut before the status line left
	}
	r.AuthMethod = x.method
	r.SourceIP = x.peer
	r.BytesIn = 0
	if x.bodyIn {
		r.BytesIn = int64(len(ctx.Request.Body()))
	}
	if ctx.Response.IsBodyStream() {
		r.BytesOut = x.streamed // Body() would read the stream whole
	} else {
		r.BytesOut = int64(len(ctx.Response.Body()))
	}
	tc := s.metrics.countTenant(x)
	r.SetMethod(h.Method())
	r.SetRequestID(x.reqID)
	r.ClientRequestID = x.clientID
	r.SetUserAgent(h.UserAgent())
	// Only the normalised path is recorded: a raw target may carry
	// userinfo or anything else the request was refused for.
	if len(x.path) > 0 {
		r.SetPath(x.path)
	} else {
		r.SetPath(noPath)
	}
	if r.BytesOut > 0 { // apart from the add above, as the comment on count says
		tc.bytesOut.Add(uint64(r.BytesOut))
	}
	if x.snap != nil {
		r.PolicyRevision = x.snap.Revision
	}
	if x.route != nil {
		r.Route = x.route.Template
	}
	if x.client != nil {
		r.Tenant, r.Client = x.client.Tenant.ID, x.client.ID
	}
	if x.claims != nil {
		r.Issuer, r.TokenFingerprint = x.claims.Issuer.ID, x.claims.Fingerprint
	}
	// The clock is read last, once the record is filled: the read waits
	// for every instruction before it to finish (the vDSO orders its TSC
	// read with LFENCE), and by now the limiter's compare-and-swaps have
	// (issue 18: BenchmarkDecide). The duration covers the fill.
	dur := limiter.Now() - x.mono
	r.Duration = dur
	// The two atomic adds of the metrics are far apart: back to back, the
	// second waits for the first to drain (BenchmarkDecide shows it).
	s.metrics.count(x, dur)
	if s.cfg.Audit == nil {
		s.metrics.auditDropped.Add(1)
	} else {
		next, ok := s.cfg.Audit.Swap(r)
		if !ok {
			s.metrics.auditDropped.Add(1)
		}
		if next == nil { // BUG guard: a sink must hand a record back
			next = new(audit.Record)
		}
		x.rec = next
	}
	s.metrics.latencySumNs.Add(uint64(max(dur, 0)))
}
