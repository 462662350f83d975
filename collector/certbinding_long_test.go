package collector

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
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
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	long := "spiffe://cluster.local/ns/acme/sa/" + strings.Repeat("s", 280)
	bindings, err := ParseCertTenants([]byte(long + " tenants=acme\n"))
	if err != nil {
		t.Fatal(err)
	}
	col, err := New(st, Config{ClientCertAuth: true, CertTenants: bindings})
	if err != nil {
		t.Fatal(err)
	}
	srv, ca := serveCertCollector(t, col)
	u, _ := url.Parse(long)
	cert := ca.issue(t, 30, &x509.Certificate{URIs: []*url.URL{u}})
	send := func(tenant, id string) (int, string) {
		t.Helper()
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		defer tr.CloseIdleConnections()
		r := sampleRecord(1)
		r.Tenant = tenant
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader(encodeBatch(id, r)))
		req.Header.Set("Content-Type", FormatProtobuf)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var e struct{ Error string }
		json.Unmarshal(body, &e)
		return resp.StatusCode, e.Error
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
