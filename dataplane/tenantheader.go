package dataplane

import (
	"bytes"

	"github.com/portcullis/portcullis/policy"
)

// Tenant headers. Multi-tenant frameworks pick the tenant a request is
// served as from a header the client sends: stancl/tenancy (Laravel)
// reads X-Tenant, Spring and NestJS services commonly X-TenantID or
// X-Tenant-Id, and ABP (__tenant) and Finbuckle.MultiTenant (__tenant__)
// headers are refused for their '_' (tokenByte), ASP.NET Boilerplate's
// Abp.TenantId for its '.'. Such a header went on as the client's word,
// so an acme key holder sending X-Tenant: globex was served globex's data
// by a service resolving its tenant so behind the sidecar, on any route.
// The sidecar cannot take the header out without changing what the
// service does, and it has verified the caller's tenant: a tenant header
// crosses only when it names that tenant, byte for byte, once. The six
// names above (policy.BuiltinTenantHeaders) are checked always, in
// scanHeaders' pass; the policy's tenant_headers names the others a
// service reads (X-Org-Id, X-Workspace-Id, ...), looked for by
// policyHeaders in a second pass that only a policy listing some pays.

// noteTenant records a tenant header line of value value, untrimmed:
// tenantHeaderOK trims it, on the rare request that has one, so that note
// stays within the inlining budget of scanHeaders' loop (issue 18).
func (h *requestHeaders) noteTenant(value []byte, n *headerCounts) {
	n.once(onceTenant)
	h.tenant, h.tenantHdr = value, true
}

// policyHeaders looks in raw, a header block scanHeaders passed into h,
// for the header lines the policy snap names: its tenant_headers (lower
// case), the value of one noted in h, and its refuse_headers. It reports
// false, a request to refuse, for a line of refuse_headers (a credential
// the sidecar does not verify: it must not reach the service), two lines
// of tenant_headers, or one beside a built-in tenant header (which would
// the service read?). It reports false too for a Cookie line naming a
// cookie of refuse_cookies (refusecookie.go), read only when a Cookie
// line came in. A nil snap (draining) or one without any of the lists
// (Snapshot.HeaderLists) costs a compare.
func policyHeaders(raw []byte, snap *policy.Snapshot, h *requestHeaders) bool {
	// Small enough to inline: the call cost a policy without the lists
	// 15 instructions a decision (callgrind, BenchmarkDecide).
	return snap == nil || !snap.HeaderLists || policyHeaderLines(raw, snap, h)
}

// policyHeaderLines is policyHeaders' pass over the header lines, and its
// look at the Cookie lines.
func policyHeaderLines(raw []byte, snap *policy.Snapshot, h *requestHeaders) bool {
	if h.cookie && len(snap.RefuseCookies) > 0 && !cookiesOK(raw, snap, h) {
		return false
	}
	if len(snap.TenantHeaders) == 0 && len(snap.RefuseHeaders) == 0 {
		return true
	}
	n := 0
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		k := bytes.IndexByte(line, ':') // scanHeaders passed it: a token, then ':'
		if k <= 0 {
			continue
		}
		for _, name := range snap.RefuseHeaders {
			if foldEqual(line[:k], name) {
				return false
			}
		}
		for _, name := range snap.TenantHeaders {
			if foldEqual(line[:k], name) {
				n++
				h.named, h.namedHdr = line[k+1:], true
				break
			}
		}
	}
	return n == 0 || n == 1 && !h.tenantHdr
}

// tenantHeaderOK reports whether the request's tenant header, if it
// carries one (a built-in name, or one of tenant_headers: policyHeaders
// lets at most one through), names the tenant of the verified caller,
// byte for byte: a tenant id is lower-case unreserved characters
// (policy.TenantIDRule), and a service may look tenants up without case,
// so no other spelling passes. A request with no verified caller (a
// public route, or one not authenticated yet) has no tenant to name: its
// header is refused. Most requests carry none, and the test of that is
// inlined into the callers (issue 18: BenchmarkDecide).
func tenantHeaderOK(x *exchange) bool {
	return !x.hdr.tenantHdr && !x.hdr.namedHdr || tenantNamed(x)
}

// tenantNamed is tenantHeaderOK for a request that carries a tenant
// header.
func tenantNamed(x *exchange) bool {
	v := x.hdr.tenant
	if x.hdr.namedHdr {
		v = x.hdr.named
	}
	return x.client != nil && string(trimOWS(v)) == x.client.Tenant.ID
}
