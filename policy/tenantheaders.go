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

// CheckRefusedHeader reports why name cannot be listed in
// refuse_headers: the rules of CheckTenantHeader (a built-in tenant
// header is one a service reads a tenant from, not a credential, and is
// held to the caller's tenant already).
func CheckRefusedHeader(name string) error { return CheckTenantHeader(name) }

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

// tenantHeaders checks the tenant_headers and refuse_headers lists: each
// name (CheckTenantHeader), once in any case across both, at most
// MaxTenantHeaders in each.
func (v *validator) tenantHeaders(tenant, refused []string) {
	seen, tenantLine := map[string]int{}, map[string]int{}
	for _, l := range []struct {
		key, what string
		names     []string
	}{{"tenant_headers", "tenant header", tenant}, {"refuse_headers", "header", refused}} {
		if len(l.names) > MaxTenantHeaders {
			v.addf(v.lines.section(l.key, 1), "%s: %d names, at most %d", l.key, len(l.names), MaxTenantHeaders)
		}
		for i, n := range l.names {
			line := v.lines.at(l.key, i, "", -1)
			if err := CheckTenantHeader(n); err != nil {
				v.addf(line, "%s: %v", l.key, err)
				continue
			}
			lower := strings.ToLower(n)
			if first, dup := tenantLine[lower]; dup && l.key == "refuse_headers" {
				v.addf(line, "refuse_headers: header %q is in tenant_headers too (line %d): a header is refused or held to the caller's tenant, not both", n, first)
				continue
			}
			if l.key == "tenant_headers" {
				v.unique(tenantLine, l.what, lower, line)
			} else {
				v.unique(seen, l.what, lower, line)
			}
		}
	}
}
