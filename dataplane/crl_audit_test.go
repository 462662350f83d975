package dataplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// refusalRecords returns the sink's records of handshake refusals.
func refusalRecords(st *stack) []audit.Record {
	st.sink.mu.Lock()
	defer st.sink.mu.Unlock()
	var out []audit.Record
	for _, r := range st.sink.recs {
		if r.Decision == audit.CertRevoked || r.Decision == audit.CertCRLExpired {
			out = append(out, r)
		}
	}
	return out
}

// TestTLSClientCRLRefusalAudited: a handshake refused because the client
// certificate's CA's CRL lists it (or has expired) writes an audit record
// (decision cert_revoked or cert_crl_expired, auth method mtls, the
// source address, the certificate's serial in hex and the SHA-256 of its
// issuer's DER subject; never the certificate). A flood of refusals is
// recorded at most 10 a second; the rest are counted and summed, at
// shutdown or the next reload tick, into one record whose count is
// theirs, so the trail has every refusal and the spool cannot be filled.
// Before, a refused handshake left no audit record, only counters and a
// log line a second.
func TestTLSClientCRLRefusalAudited(t *testing.T) {
	c := newCRLCase(t)
	st := startStack(t, func(cfg *Config) {
		cfg.TLS = withCRL(t, c.files, c.clientCA.crl(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), c.admin.serial))
		cfg.TLS.Reload = time.Hour // the summary comes from Shutdown, not a tick
	})
	swapDoc(t, st.store, mtlsPolicy)

	if status, err := served(t, st.addr, c.roots, &c.admin, "PUT", "/v1/admin/settings"); err == nil {
		t.Fatalf("revoked certificate: status %d, want the handshake refused", status)
	}
	pollUntil(t, "the refusal audited", func() (bool, string) {
		n := len(refusalRecords(st))
		return n > 0, fmt.Sprint(n, " records")
	})
	recs := refusalRecords(st)
	if len(recs) != 1 {
		t.Fatalf("%d audit records of the refused handshake, want 1", len(recs))
	}
	r := recs[0]
	wantIssuer := sha256.Sum256(c.clientCA.cert.RawSubject)
	if r.Decision != audit.CertRevoked || r.AuthMethod != audit.AuthMTLS || r.SourceIP.String() != "127.0.0.1" {
		t.Errorf("record: decision %v, method %v, source %v; want cert_revoked, mtls, 127.0.0.1", r.Decision, r.AuthMethod, r.SourceIP)
	}
	if got, want := string(r.CertSerial()), hex.EncodeToString(c.admin.serial.Bytes()); got != want {
		t.Errorf("serial %q, want %q", got, want)
	}
	if r.CertIssuer != wantIssuer {
		t.Errorf("issuer hash %x, want the SHA-256 of the CA's subject, %x", r.CertIssuer, wantIssuer)
	}
	line := string(r.AppendJSON(nil))
	if b64 := strings.Split(string(c.admin.certPEM), "\n")[1]; strings.Contains(line, b64[:32]) {
		t.Errorf("the record holds the certificate: %s", line)
	}
	for _, want := range []string{`"cert_serial":"` + hex.EncodeToString(c.admin.serial.Bytes()) + `"`, `"cert_issuer":"` + hex.EncodeToString(wantIssuer[:]) + `"`} {
		if !strings.Contains(line, want) {
			t.Errorf("JSON record lacks %s: %s", want, line)
		}
	}

	// A flood: 40 refusals more, as fast as they come.
	const flood = 40
	start := time.Now()
	for range flood {
		if _, err := served(t, st.addr, c.roots, &c.admin, "GET", "/v1/users/7"); err == nil {
			t.Fatal("revoked certificate served")
		}
	}
	// The server audits a refusal once its Handshake has returned, which
	// can be after the client read the alert: the last refusals may still
	// be on their way (the test failed so under -race with the package's
	// other tests running).
	pollUntil(t, "every refusal audited or left out", func() (bool, string) {
		recorded, left := st.srv.certs.refusals.recorded.Load(), st.srv.certs.refusals.suppressed.Load()
		return recorded+left == flood+1, fmt.Sprintf("recorded %d and left out %d, want %d in all", recorded, left, flood+1)
	})
	secs := int(time.Since(start)/time.Second) + 2
	recorded, left := st.srv.certs.refusals.recorded.Load(), st.srv.certs.refusals.suppressed.Load()
	if max := uint64(secs * refusalRecordsPerSecond); recorded > max {
		t.Errorf("recorded %d refusals in under %d s, want at most %d", recorded, secs, max)
	}
	if left == 0 {
		t.Fatalf("no refusal left out of %d in %d s", flood+1, secs)
	}
	if page := scrape(t, st.srv); !strings.Contains(page, "portcullis_tls_refusal_records_suppressed_total ") {
		t.Errorf("/metrics lacks portcullis_tls_refusal_records_suppressed_total")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st.srv.Shutdown(ctx)
	var one, summed uint64
	for _, r := range refusalRecords(st) {
		switch {
		case r.Count > 1:
			summed += uint64(r.Count)
			if len(r.CertSerial()) != 0 || r.SourceIP.IsValid() {
				t.Errorf("summary record names a certificate or address: %s", r.AppendJSON(nil))
			}
		default:
			one++
		}
	}
	if one != recorded || summed != left {
		t.Errorf("trail: %d records one by one and %d summed, want %d and %d", one, summed, recorded, left)
	}
}

// TestTLSClientCRLExpiredRefusalAudited: a handshake refused because the
// CRL of the certificate's CA expired is recorded as cert_crl_expired.
func TestTLSClientCRLExpiredRefusalAudited(t *testing.T) {
	c := newCRLCase(t)
	st := startStack(t, func(cfg *Config) {
		cfg.TLS = withCRL(t, c.files, c.clientCA.crl(t, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)))
	})
	swapDoc(t, st.store, mtlsPolicy)
	if status, err := served(t, st.addr, c.roots, &c.hris, "GET", "/v1/users/7"); err == nil {
		t.Fatalf("certificate of a CA whose CRL expired: status %d, want the handshake refused", status)
	}
	pollUntil(t, "the refusal audited", func() (bool, string) {
		n := len(refusalRecords(st))
		return n > 0, fmt.Sprint(n, " records")
	})
	recs := refusalRecords(st)
	if len(recs) != 1 || recs[0].Decision != audit.CertCRLExpired || string(recs[0].CertSerial()) != hex.EncodeToString(c.hris.serial.Bytes()) {
		t.Fatalf("records %+v, want one cert_crl_expired naming serial %x", recs, c.hris.serial.Bytes())
	}
}
