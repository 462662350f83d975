package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestIssuerClaimSettingsRefused: an empty audience, a tenant_claim or
// client_claim naming a registered claim, and the two naming one claim
// validated (an outside review). The data plane then left the issuer out
// (an empty audience) or answered each of its tokens 401 (exp is a number,
// not a tenant; one claim cannot name a tenant and a client), while
// policy validate, push and the sidecar's --policy said the policy was
// fine. A push refuses each (CheckPush) with a problem at its line naming
// the issuer and the field; Load still takes it, as it takes every rule
// added after documents breaking it could load (a sidecar refusing the
// policy in etcd after an upgrade would serve nothing).
func TestIssuerClaimSettingsRefused(t *testing.T) {
	t.Parallel()
	issuer := func(extra ...string) string {
		return with(0, append([]string{"issuers:", "  - id: idp", "    tenants: [acme]", "    issuer: https://idp.example",
			"    jwks_url: https://idp.example/jwks", "    algorithms: [RS256]"}, extra...)...)
	}
	for _, tt := range []struct {
		name  string
		extra []string
		want  string // the problem's text after the file and line
	}{
		{"empty audience", []string{`    audiences: [api, ""]`},
			`issuer "idp": audiences: an empty audience matches no token's aud`},
		{"tenant_claim exp", []string{"    audiences: [api]", "    tenant_claim: exp"},
			`issuer "idp": tenant_claim "exp" is the registered claim "exp"`},
		{"client_claim aud", []string{"    audiences: [api]", "    client_claim: aud"},
			`issuer "idp": client_claim "aud" is the registered claim "aud"`},
		{"client_claim JTI", []string{"    audiences: [api]", "    client_claim: JTI"},
			`issuer "idp": client_claim "JTI" is the registered claim "jti"`},
		{"same claim", []string{"    audiences: [api]", "    tenant_claim: org", "    client_claim: org"},
			`issuer "idp": client_claim "org" is the tenant_claim "org"`},
		{"same claim by default", []string{"    audiences: [api]", "    tenant_claim: client_id"},
			`issuer "idp": tenant_claim "client_id" is the client_claim "client_id" (the default)`},
		{"same claim under case folding", []string{"    audiences: [api]", "    tenant_claim: Tenant_ID", "    client_claim: tenant_id"},
			`issuer "idp": client_claim "tenant_id" is the tenant_claim "Tenant_ID"`},
	} {
		text := issuer(tt.extra...)
		doc, err := Load("p.yaml", []byte(text))
		if err != nil {
			t.Errorf("%s: Load refused it (a document that loaded before must load after an upgrade): %v", tt.name, err)
			continue
		}
		err = CheckPush("p.yaml", []byte(text), doc)
		if err == nil {
			t.Errorf("%s: CheckPush accepted it\n%s", tt.name, numbered(text))
			continue
		}
		var perr *Error
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &perr) || len(perr.Problems) != 1 || !strings.HasPrefix(perr.Problems[0].Message, tt.want) {
			t.Errorf("%s: CheckPush: %v\nwant one problem starting: %s\ndocument:\n%s", tt.name, err, tt.want, numbered(text))
			continue
		}
		field := strings.TrimSpace(tt.extra[len(tt.extra)-1])
		if got := strings.Split(text, "\n")[perr.Problems[0].Line-1]; strings.TrimSpace(got) != field {
			t.Errorf("%s: problem at line %d (%q), want the line %q", tt.name, perr.Problems[0].Line, got, field)
		}
	}
	for _, ok := range [][]string{
		{"    audiences: [api]", "    tenant_claim: org", "    client_claim: sub"},
		{"    audiences: [api]", "    tenant_claim: tenant", "    client_claim: azp"},
	} {
		text := issuer(ok...)
		doc, err := Load("p.yaml", []byte(text))
		if err == nil {
			err = CheckPush("p.yaml", []byte(text), doc)
		}
		if err != nil {
			t.Errorf("refused %q: %v", ok, err)
		}
	}
}

// TestInlineJWKSPrivateKeyRefused (attack813): an issuer's inline jwks
// holding a key's private half ("d" of an OKP key, pasted whole as a key
// pair) validated and was pushed, into etcd and its history, where
// whoever reads the policy could sign the issuer's tokens. A push refuses
// it (CheckPush) at the jwks line, in any case of the member's name; Load
// still takes it (the data plane skips such a key).
func TestInlineJWKSPrivateKeyRefused(t *testing.T) {
	t.Parallel()
	const x = `"x":"lgXeSIRAyXwmOjbRiQGZ7YVoYx8XviIq9Kl4GWEV5x0"`
	issuer := func(key string) string {
		return with(0, "issuers:", "  - id: idp", "    tenants: [acme]", "    issuer: https://idp.example",
			`    jwks: '{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1",`+key+`}]}'`, "    algorithms: [EdDSA]", "    audiences: [api]")
	}
	for _, member := range []string{"d", "D", "k"} {
		text := issuer(x + `,"` + member + `":"tBQwRAqb0m-DX5PUmxir2ciMs_zBX9zK4bZiaZEyLHs"`)
		doc, err := Load("p.yaml", []byte(text))
		if err != nil {
			t.Errorf("%s: Load refused it (a document that loaded before must load after an upgrade): %v", member, err)
			continue
		}
		err = CheckPush("p.yaml", []byte(text), doc)
		var perr *Error
		if !errors.As(err, &perr) || len(perr.Problems) != 1 || !strings.Contains(perr.Problems[0].Message, "private key material") {
			t.Errorf("%s: CheckPush: %v, want one problem naming private key material", member, err)
			continue
		}
		if got := strings.Split(text, "\n")[perr.Problems[0].Line-1]; !strings.Contains(got, "jwks:") {
			t.Errorf("%s: problem at line %d (%q), want the jwks line", member, perr.Problems[0].Line, got)
		}
		if strings.Contains(err.Error(), "tBQwRAqb") {
			t.Errorf("%s: the problem quotes the private key: %v", member, err)
		}
	}
	text := issuer(x)
	doc, err := Load("p.yaml", []byte(text))
	if err == nil {
		err = CheckPush("p.yaml", []byte(text), doc)
	}
	if err != nil {
		t.Errorf("public key alone refused: %v", err)
	}
}
