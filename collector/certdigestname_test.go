package collector

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"strings"
	"testing"
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
	srv, ca := certCollector(t, dir, Config{})
	send := func(cert tls.Certificate, id string) int {
		t.Helper()
		code, _ := sendAs(t, srv, cert, id, sampleRecord(1))
		return code
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
