package collector

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// An identity over 256 bytes names its sender cut and followed by
// "#sha256:" and the digest of the whole (certSenderName); an identity of
// 256 bytes or fewer was taken as it is, so a certificate whose name was
// exactly that cut form was the long identity's sender: its batch under
// an id the long one had used was answered 200 as a duplicate and never
// stored, it could take the ids the other would use next, and it stood
// under the other's tenant binding. An identity holding "#sha256:" is now
// always named in the digest form, which no other identity's name
// matches. Over real TLS on loopback.
func TestCertIdentityInDigestFormIsNoOther(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	col, err := New(st, Config{ClientCertAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, ca := serveCertCollector(t, col)
	send := func(cert tls.Certificate, id string) int {
		t.Helper()
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader(encodeBatch(id, sampleRecord(1))))
		req.Header.Set("Content-Type", FormatProtobuf)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	long := "pod." + strings.Repeat("l", 300)
	mimic := certSenderName(long) // the long identity's sender name, as a name of its own
	if len(mimic) > maxFieldBytes || !strings.Contains(mimic, "#sha256:") {
		t.Fatalf("the cut form of a long identity is %d bytes: %q", len(mimic), mimic)
	}
	for i, name := range []string{long, mimic} {
		if got := send(ca.issue(t, int64(30+i), &x509.Certificate{Subject: pkix.Name{CommonName: name}}), "pod-1"); got != http.StatusOK {
			t.Errorf("certificate %d: %d, want 200", i+1, got)
		}
	}
	senders := map[string]int{}
	for _, r := range storedRecords(t, dir) {
		senders[r.Sender]++
	}
	if len(senders) != 2 {
		t.Errorf("records by sender %v; want one record under each of the two identities (the second's batch was taken for the first's)", senders)
	}
}
