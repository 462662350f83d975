package dataplane

import (
	"crypto/x509"
	"fmt"
	"testing"
	"time"
)

// A client CA taken out of the file is in force on a kept-alive
// connection's next request a second or so after the change, not at the
// next --tls-reload poll: the request's recheck looks at the client
// files (certReloader.fresh). The poll here is an hour, so only that look
// can read the change; no new handshake is made.
func TestTLSClientCARemovedOnKeptAliveConnectionBetweenPolls(t *testing.T) {
	serverCA := newAuthority(t, "server CA")
	oldCA, newCA := newAuthority(t, "old client CA"), newAuthority(t, "new client CA")
	files := tlsFiles(t, serverCA.issue(t, "sidecar", nil, true), oldCA)
	files.Reload = time.Hour
	writeFile(t, files.ClientCAFile, append(append([]byte(nil), oldCA.pem...), newCA.pem...))
	st := startStack(t, func(c *Config) { c.TLS = files })
	swapDoc(t, st.store, mtlsPolicy)
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)

	fromOld := oldCA.issue(t, "admin", []string{adminSPIFFE}, false)
	conn, err := dialTLS(st.addr, roots, &fromOld.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.c.Close()
	if r, err := conn.send("PUT", "/v1/admin/settings", nil); err != nil || r.status != 200 {
		t.Fatalf("old CA's certificate before the change = %d %v, want 200", r.status, err)
	}
	writeFile(t, files.ClientCAFile, newCA.pem)
	pollUntil(t, "old CA's certificate refused on its kept-alive connection", func() (bool, string) {
		r, err := conn.send("PUT", "/v1/admin/settings", nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.status == 401, fmt.Sprintf("status %d", r.status)
	})
}
