package policy

import (
	"fmt"
	"strings"
)

// MaxRefuseCookies is how many names refuse_cookies may list: the data
// plane compares each cookie name of a request carrying a Cookie header
// with each of them.
const MaxRefuseCookies = 16

// MaxRefuseCookieLen bounds a refuse_cookies name (the data plane decodes
// a cookie name's head into a buffer of this size on the stack).
const MaxRefuseCookieLen = 64

// CheckRefusedCookie reports why name cannot be listed in
// refuse_cookies: it must be a cookie name, an RFC 6265 token (RFC 9110
// tchar: letters, digits and !#$%&'*+-.^_`|~), of 1 to
// MaxRefuseCookieLen bytes.
func CheckRefusedCookie(name string) error {
	if name == "" || len(name) > MaxRefuseCookieLen {
		return fmt.Errorf("cookie name %q must have 1 to %d bytes", name, MaxRefuseCookieLen)
	}
	for i := range len(name) {
		if !CookieTchar(name[i]) {
			return fmt.Errorf("cookie name %q must be a token (RFC 6265): letters, digits and !#$%%&'*+-.^_`|~, not %q", name, name[i:i+1])
		}
	}
	return nil
}

// CookieTchar reports whether c is a tchar of RFC 9110 (section 5.6.2),
// what an RFC 6265 cookie-name is made of.
func CookieTchar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// refuseCookies checks the refuse_cookies list: each name
// (CheckRefusedCookie), once in any case (ASP.NET Core reads cookie
// names without case, so two spellings are one cookie), at most
// MaxRefuseCookies.
func (v *validator) refuseCookies(names []string) {
	if len(names) > MaxRefuseCookies {
		v.addf(v.lines.section("refuse_cookies", 1), "refuse_cookies: %d names, at most %d", len(names), MaxRefuseCookies)
	}
	seen := map[string]int{}
	for i, n := range names {
		line := v.lines.at("refuse_cookies", i, "", -1)
		if err := CheckRefusedCookie(n); err != nil {
			v.addf(line, "refuse_cookies: %v", err)
			continue
		}
		v.unique(seen, "cookie (refuse_cookies, names compared in any case)", strings.ToLower(n), line)
	}
}
