package dataplane

import (
	"strconv"
	"time"
)

// Drain marks the server not ready, so /readyz answers 503, while it goes
// on accepting and serving every request as before: the first step of a
// graceful stop, which gives the endpoints controller and the load
// balancers time to stop sending before Shutdown closes the listener
// (issue 13, item 5). Shutdown drains too.
func (s *Server) Drain() { s.stopping.Store(true) }

// Checks returns the server's own readiness checks: a policy is loaded,
// the server is not draining, and, when the policy says audit.mode
// strict, the audit sink accepts records (else every request answers 503).
func (s *Server) Checks() []Check {
	return []Check{{Name: "policy", State: s.policyState}, {Name: "serving", State: s.servingState}, {Name: "audit", State: s.auditState}, {Name: "jwt issuers", State: s.issuerState}}
}

// issuerState names the token issuers whose keys were never fetched, or
// whose JWKS holds no usable key: their tokens get 401 until a fetch
// brings keys, and the rest of the policy is enforced as usual, so the
// server stays ready.
func (s *Server) issuerState() (bool, string) {
	p := s.prepared.Load()
	if p == nil {
		return true, ""
	}
	var detail string
	for _, u := range p.unusable {
		if detail != "" {
			detail += "; "
		}
		detail += "jwt issuer " + u.id + ": unusable, its tokens get 401: " + u.err.Error()
	}
	if p.verifier == nil {
		return true, detail
	}
	for _, id := range p.verifier.Pending() {
		if detail != "" {
			detail += "; "
		}
		detail += "jwt issuer " + id + ": keys not fetched yet; its tokens get 401"
	}
	for _, id := range p.verifier.Withdrawn() {
		if detail != "" {
			detail += "; "
		}
		detail += "jwt issuer " + id + ": its JWKS holds no usable key; its tokens get 401"
	}
	return true, detail
}

func (s *Server) policyState() (bool, string) {
	snap := s.store.Load()
	if snap == nil {
		return false, "no policy loaded yet"
	}
	d := "revision " + strconv.FormatInt(snap.Revision, 10) + ", installed " + s.store.LoadedAt().UTC().Format(time.RFC3339)
	if n := s.store.Failures(); n > 0 {
		d += ", " + strconv.FormatInt(n, 10) + " refused since start"
	}
	return true, d
}

func (s *Server) servingState() (bool, string) {
	if s.stopping.Load() {
		return false, "draining: stopping, still serving what arrives until the listener closes"
	}
	return true, ""
}

func (s *Server) auditState() (bool, string) {
	snap := s.store.Load()
	strict := snap != nil && snap.AuditStrict
	mode := "best_effort"
	if strict {
		mode = "strict"
	}
	switch {
	case s.cfg.Audit == nil && strict:
		return false, "no audit destination and audit.mode strict: every request answers 503"
	case s.cfg.Audit == nil:
		return true, "no audit destination: records dropped and counted"
	case !s.cfg.Audit.Accepting() && strict:
		return false, "audit sink not accepting records and audit.mode strict: requests answer 503"
	case !s.cfg.Audit.Accepting():
		return true, "audit sink not accepting records: dropped and counted"
	}
	return true, "accepting records, mode " + mode
}
