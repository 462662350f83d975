package policy

import (
	"fmt"
	"strings"
)

// BuiltinTenantHeaders are the tenant headers the data plane holds to the
// verified caller's tenant whatever the policy says (in lower case):
// multi-tenant frameworks pick the tenant a request is served as from
// them (stancl/tenancy's X-Tenant, X-TenantId and X-Tenant-Id in Spring
// and NestJS services). tenant_headers adds the names a service of the
// policy reads its tenant from otherwise.
var BuiltinTenantHeaders = []string{"tenant", "tenantid", "tenant-id", "x-tenant", "x-tenantid", "x-tenant-id"}

// MaxTenantHeaders is how many names tenant_headers may list: the data
// plane compares each header line of a request with each of them.
const MaxTenantHeaders = 16

// maxTenantHeaderLen bounds a tenant_headers name.
const maxTenantHeaderLen = 64

// ownedHeaders are names the sidecar sets, removes or reads itself: one
// of them cannot be a service's tenant header (it never reaches the
// service as the client sent it, or carries something else).
var ownedHeaders = map[string]bool{
	"host": true, "content-length": true, "transfer-encoding": true, "content-type": true, "content-encoding": true,
	"authorization": true, "x-api-key": true, "cookie": true, "connection": true, "keep-alive": true, "te": true,
	"trailer": true, "upgrade": true, "expect": true, "proxy-authorization": true, "proxy-connection": true,
	"x-request-id": true, "forwarded": true, "x-real-ip": true,
}

// CheckTenantHeader reports why name cannot be listed in tenant_headers:
// it must be a header name of letters, digits and '-' (the data plane
// refuses a request whose header names hold any other byte, so such a
// name never reaches the service), not one of BuiltinTenantHeaders
// (checked always), nor one the sidecar owns (ownedHeaders,
// X-Portcullis-*, X-Forwarded-*).
func CheckTenantHeader(name string) error {
	if name == "" || len(name) > maxTenantHeaderLen {
		return fmt.Errorf("header name %q must have 1 to %d bytes", name, maxTenantHeaderLen)
	}
	for i := range len(name) {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("header name %q must hold only letters, digits and '-' (the sidecar refuses a request with any other byte in a header name, so the service never gets one)", name)
		}
	}
	lower := strings.ToLower(name)
	for _, b := range BuiltinTenantHeaders {
		if lower == b {
			return fmt.Errorf("header %q is checked always; leave it out", name)
		}
	}
	if ownedHeaders[lower] || strings.HasPrefix(lower, "x-portcullis-") || strings.HasPrefix(lower, "x-forwarded-") {
		return fmt.Errorf("header %q is one the sidecar sets, removes or reads itself, not a tenant header", name)
	}
	return nil
}

// tenantHeaders checks the tenant_headers list: each name
// (CheckTenantHeader), once in any case, at most MaxTenantHeaders.
func (v *validator) tenantHeaders(names []string) {
	if len(names) > MaxTenantHeaders {
		v.addf(v.lines.section("tenant_headers", 1), "tenant_headers: %d names, at most %d", len(names), MaxTenantHeaders)
	}
	seen := map[string]int{}
	for i, n := range names {
		line := v.lines.at("tenant_headers", i, "", -1)
		if err := CheckTenantHeader(n); err != nil {
			v.addf(line, "tenant_headers: %v", err)
			continue
		}
		v.unique(seen, "tenant header", strings.ToLower(n), line)
	}
}
