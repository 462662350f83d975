package policy

import (
	"fmt"
	"strings"
)

// MaxTenantNames is how many names tenant_params, and tenant_cookies,
// may list: on a route that binds {tenant}, the data plane compares each
// parameter (cookie) name of a request with each of them.
const MaxTenantNames = 16

// CheckTenantName reports why name cannot be listed in tenant_params or
// tenant_cookies (key): it must be a token of 1 to MaxRefuseCookieLen
// bytes, as a refuse_cookies name (the data plane matches it as it
// matches one of those), and not one the data plane refuses on such a
// route always: "tenant" in any case, with or without leading
// underscores, and, for a cookie, Abp.TenantId.
func CheckTenantName(key, name string) error {
	if name == "" || len(name) > MaxRefuseCookieLen {
		return fmt.Errorf("%s: name %q must have 1 to %d bytes", key, name, MaxRefuseCookieLen)
	}
	for i := range len(name) {
		if !CookieTchar(name[i]) {
			return fmt.Errorf("%s: name %q must be a token: letters, digits and !#$%%&'*+-.^_`|~, not %q", key, name, name[i:i+1])
		}
	}
	lower := strings.ToLower(name)
	if strings.TrimLeft(lower, "_") == "tenant" || key == "tenant_cookies" && lower == "abp.tenantid" {
		return fmt.Errorf("%s: %q is refused on a route binding {tenant} always; leave it out", key, name)
	}
	return nil
}

// tenantNames checks the tenant_params or tenant_cookies list (key):
// each name (CheckTenantName), once in any case (ASP.NET Core binds
// parameters and reads cookies without case), at most MaxTenantNames.
func (v *validator) tenantNames(key string, names []string) {
	if len(names) > MaxTenantNames {
		v.addf(v.lines.section(key, 1), "%s: %d names, at most %d", key, len(names), MaxTenantNames)
	}
	seen := map[string]int{}
	for i, n := range names {
		line := v.lines.at(key, i, "", -1)
		if err := CheckTenantName(key, n); err != nil {
			v.addf(line, "%v", err)
			continue
		}
		v.unique(seen, "name ("+key+", compared in any case)", strings.ToLower(n), line)
	}
}

// compileTenantNames returns names (tenant_params or tenant_cookies,
// key) in lower case, for the data plane, or why one is not a name.
func compileTenantNames(key string, names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		if err := CheckTenantName(key, n); err != nil {
			return nil, err
		}
		out = append(out, strings.ToLower(n))
	}
	return out, nil
}
