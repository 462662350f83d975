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
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	long := "spiffe://cluster.local/ns/acme/sa/" + strings.Repeat("s", 280)
	shown := certSenderName(long) // as the trail names its sender
	bindings, err := ParseCertTenants([]byte(shown + " tenants=acme\n"))
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
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	r := sampleRecord(1)
	r.Tenant = "globex"
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader(encodeBatch("b-1", r)))
	req.Header.Set("Content-Type", FormatProtobuf)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct{ Error string }
	json.Unmarshal(body, &e)
	if resp.StatusCode != http.StatusForbidden || e.Error != "tenant_not_bound" {
		t.Errorf("a record of globex from the certificate whose sender name is bound to acme: %d %q, want 403 tenant_not_bound", resp.StatusCode, e.Error)
	}
	for _, r := range storedRecords(t, dir) {
		t.Errorf("record of tenant %q stored (bound tenants %q); want none", r.Tenant, r.BoundTenants)
	}
}
