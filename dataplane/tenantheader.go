package dataplane

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
// crosses only when it names that tenant, byte for byte, once.

// noteTenant records a tenant header line of value value, untrimmed:
// tenantHeaderOK trims it, on the rare request that has one, so that note
// stays within the inlining budget of scanHeaders' loop (issue 18).
func (h *requestHeaders) noteTenant(value []byte, n *headerCounts) {
	n.tenants++
	h.tenant, h.tenantHdr = value, true
}

// tenantHeaderOK reports whether the request's tenant header, if it
// carries one, names the tenant of the verified caller, byte for byte: a
// tenant id is lower-case unreserved characters (policy.TenantIDRule),
// and a service may look tenants up without case, so no other spelling
// passes. A request with no verified caller (a public route, or one not
// authenticated yet) has no tenant to name: its header is refused.
func tenantHeaderOK(x *exchange) bool {
	return !x.hdr.tenantHdr || x.client != nil && string(trimOWS(x.hdr.tenant)) == x.client.Tenant.ID
}
