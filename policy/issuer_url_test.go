package policy

import (
	"errors"
	"testing"
)

// TestDuplicateIssuerURLRefused: two issuers of one issuer url cannot be
// told apart by a token, which names its issuer by url; such a policy
// validated, and the sidecar's verifier, refused whole, answered every
// token of every issuer 401 (dataplane: TestDuplicateIssuerURLKeepsTheFirst).
func TestDuplicateIssuerURLRefused(t *testing.T) {
	t.Parallel()
	issuer := func(id, url string) []string {
		return []string{"  - id: " + id, "    tenants: [acme]", "    issuer: " + url,
			"    jwks_url: https://idp.example/jwks", "    audiences: [api]", "    algorithms: [RS256]"}
	}
	lines := append([]string{"issuers:"}, issuer("idp", "https://idp.example")...)
	lines = append(lines, issuer("idp-b", "https://idp.example")...)
	lines = append(lines, issuer("idp-c", "https://other.example")...)
	_, err := Load("p.yaml", []byte(with(0, lines...)))
	if err == nil {
		t.Fatal("Load accepted two issuers of one issuer url")
	}
	want := `p.yaml:39: issuer "idp-b": issuer "https://idp.example" is already the url of the issuer at line 33: a token names its issuer by url, so one url is one issuer`
	if !errors.Is(err, ErrInvalid) || err.Error() != want {
		t.Errorf("Load: %v\nwant: %s\ndocument:\n%s", err, want, numbered(with(0, lines...)))
	}
	distinct := append(append([]string{"issuers:"}, issuer("idp", "https://idp.example")...), issuer("idp-c", "https://other.example")...)
	if _, err := Load("p.yaml", []byte(with(0, distinct...))); err != nil {
		t.Errorf("Load refused issuers of distinct urls: %v", err)
	}
}
