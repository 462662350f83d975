package policy

import (
	"strings"
	"testing"
)

// A client's mtls_identities map certificate identities to it, and a
// class may require auth method mtls; Compile indexes the identities for
// the data plane. Before, mtls_identities was an unknown field and mtls an
// unknown auth method.
func TestMTLSIdentities(t *testing.T) {
	t.Parallel()
	d, err := Load("p.yaml", []byte(with(25, "    scopes: [read:users]",
		`    mtls_identities: ["spiffe://cluster.local/ns/acme/sa/hris", "subject:CN=hris,O=Acme"]`)))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := Compile(d, Live{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"spiffe://cluster.local/ns/acme/sa/hris", "subject:CN=hris,O=Acme"} {
		if c := snap.MTLSClient(id); c == nil || c.ID != "acme-hris" {
			t.Errorf("MTLSClient(%q) = %v, want acme-hris", id, c)
		}
	}
	if c := snap.MTLSClient("spiffe://cluster.local/ns/acme/sa/other"); c != nil {
		t.Errorf("MTLSClient(unmapped) = %s, want nil", c.ID)
	}

	d, err = Load("p.yaml", []byte(with(16, "    max_body: 64KiB", "    auth_methods: [mtls]")))
	if err != nil {
		t.Fatal(err)
	}
	if snap, err = Compile(d, Live{}); err != nil {
		t.Fatal(err)
	}
	if got := snap.Classes[1].AuthMethods; got != MethodMTLS {
		t.Errorf("auth_methods [mtls] compiles to %b, want %b", got, MethodMTLS)
	}
	if got := snap.Classes[0].AuthMethods; got != MethodAPIKey|MethodJWT|MethodMTLS {
		t.Errorf("a class without auth_methods accepts %b, want all three", got)
	}
}

// Identities that are neither a URI nor "subject:" and a distinguished
// name, and an identity two clients claim, are refused at their line.
func TestMTLSIdentityProblems(t *testing.T) {
	t.Parallel()
	second := []string{"  - id: acme-bi", "    tenant: acme", "    scopes: [read:users]"}
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"not a URI", with(25, "    scopes: [read:users]", "    mtls_identities: [hris]"), `p.yaml:26: client "acme-hris": mtls identity "hris": must be a URI SAN`},
		{"subject without a DN", with(25, "    scopes: [read:users]", `    mtls_identities: ["subject:hris"]`), `p.yaml:26: client "acme-hris": mtls identity "subject:hris": a subject must be a distinguished name`},
		{"claimed twice", with(25, append([]string{"    scopes: [read:users]", "    mtls_identities: [spiffe://td/a]"}, append(second, "    mtls_identities: [spiffe://td/a]")...)...),
			`p.yaml:30: client "acme-bi": mtls identity "spiffe://td/a" already names client "acme-hris"`},
	} {
		_, err := Load("p.yaml", []byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Load = %v, want %q", tc.name, err, tc.want)
		}
	}
}
