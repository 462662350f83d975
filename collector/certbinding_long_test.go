package collector

import (
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestLongCertIdentityBindingHeld: a client certificate's identity over
// maxFieldBytes names its sender cut, followed by the SHA-256 of the
// whole of it (certIdentity), but the certificate tenants file
// (--cert-tenants) was looked up by the identity as written there, whole:
// a SPIFFE id of 300 bytes bound to tenant acme matched no sender, so its
// holder was bound to nothing and filed records under globex, where they
// drive globex's detection and counts. The binding is now keyed by the
// sender the identity names.
func TestLongCertIdentityBindingHeld(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	long := "spiffe://cluster.local/ns/acme/sa/" + strings.Repeat("s", 280)
	bindings, err := ParseCertTenants([]byte(long + " tenants=acme\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv, ca := certCollector(t, dir, Config{CertTenants: bindings})
	u, _ := url.Parse(long)
	cert := ca.issue(t, 30, &x509.Certificate{URIs: []*url.URL{u}})
	send := func(tenant, id string) (int, string) {
		t.Helper()
		r := sampleRecord(1)
		r.Tenant = tenant
		return sendAs(t, srv, cert, id, r)
	}
	if code, e := send("globex", "b-1"); code != http.StatusForbidden || e != "tenant_not_bound" {
		t.Errorf("a record of globex from the certificate bound to acme: %d %q, want 403 tenant_not_bound", code, e)
	}
	if code, e := send("acme", "b-2"); code != http.StatusOK {
		t.Errorf("a record of acme from the certificate bound to acme: %d %q, want 200", code, e)
	}
	for _, r := range storedRecords(t, dir) {
		if r.Tenant != "acme" || r.BoundTenants != "acme" {
			t.Errorf("record of tenant %q stored with bound tenants %q; want acme's only, its sender bound to acme", r.Tenant, r.BoundTenants)
		}
	}
}
