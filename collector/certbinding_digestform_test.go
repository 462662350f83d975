package collector

import (
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCertBindingWrittenInDigestFormHeld: a client certificate identity
// over 256 bytes names its sender cut and followed by #sha256: and its
// digest, and that is the name every record, query and tenant_not_bound
// error shows of it. A certificate tenants line written with that name
// bound it until 040aef1 (a name of 256 bytes or fewer was taken as it
// is); since, an identity holding #sha256: is digested again, so the line
// bound no certificate at all and its holder, unbound, filed records
// under any tenant. A line naming a sender in that form binds the sender
// of that name too.
func TestCertBindingWrittenInDigestFormHeld(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	long := "spiffe://cluster.local/ns/acme/sa/" + strings.Repeat("s", 280)
	shown := certSenderName(long) // as the trail names its sender
	bindings, err := ParseCertTenants([]byte(shown + " tenants=acme\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv, ca := certCollector(t, dir, Config{CertTenants: bindings})
	u, _ := url.Parse(long)
	cert := ca.issue(t, 30, &x509.Certificate{URIs: []*url.URL{u}})
	r := sampleRecord(1)
	r.Tenant = "globex"
	code, e := sendAs(t, srv, cert, "b-1", r)
	if code != http.StatusForbidden || e != "tenant_not_bound" {
		t.Errorf("a record of globex from the certificate whose sender name is bound to acme: %d %q, want 403 tenant_not_bound", code, e)
	}
	for _, r := range storedRecords(t, dir) {
		t.Errorf("record of tenant %q stored (bound tenants %q); want none", r.Tenant, r.BoundTenants)
	}
}
