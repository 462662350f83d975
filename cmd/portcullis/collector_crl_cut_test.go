package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/promtool"
)

// TestCollectorClientCRLCutShortKeepsTheCRLInForce: the collector's
// --client-crl rewritten in place (not renamed over) and caught by a
// reload half written, its last PEM block cut short, or a damaged block
// before a good one. Read as the blocks that decode, the older CRL would
// go in force and the sender certificate the newer one revokes be taken
// again (the sidecar did so: TestTLSClientCRLCutShortKeepsTheCRLInForce;
// the parser is one, internal/clientcrl, and this holds the collector to
// it). The load is refused whole, logged naming the file, and counted
// (the collector had no metric of a failed reload); the CRL in force
// stays: the revoked sender stays refused, the good one served. A real
// collector process, real TLS over loopback.
func TestCollectorClientCRLCutShortKeepsTheCRLInForce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	r := newCollectorCRLRig(t)
	stolen, kept := r.sender(3), r.sender(4)
	older, newer := r.crl(1), r.crl(2, 3)
	crlFile := r.write("senders.crl", newer)
	r.start(crlFile, kept)
	if code := r.sends(stolen); code != 0 {
		t.Fatalf("the sender the CRL in force revokes: %d, want the handshake refused", code)
	}
	whole := append(append([]byte(nil), older...), newer...)
	for i, cut := range []struct {
		name, says string
		file       []byte
	}{
		{"the last block cut short", "cut short or damaged", whole[:len(whole)-len(newer)/2]},
		{"a damaged block before a good one", "cut short or damaged", append([]byte("-----BEGIN X509 CRL-----\nnot base64!\n-----END X509 CRL-----\n"), older...)},
		// Whole, it would lift the revocation: before, it was put in
		// force and the stolen sender wrote to the trail again.
		{"an older CRL, whole (a file restored from a backup)", "may not put an older CRL in force", older},
	} {
		refused, swapped := strings.Count(r.log(), "client CRL not reloaded"), strings.Count(r.log(), "client CRL reloaded")
		if err := os.WriteFile(crlFile, cut.file, 0o600); err != nil { // in place: what a reload can catch half done
			t.Fatal(err)
		}
		r.h.until(cut.name+": the file read again", func() (bool, string) {
			l := r.log()
			return strings.Count(l, "client CRL not reloaded") > refused || strings.Count(l, "client CRL reloaded") > swapped, tail(l, 2000)
		})
		if n := strings.Count(r.log(), "client CRL reloaded") - swapped; n != 0 {
			t.Errorf("%s: swapped in (%d reloads), want the load refused", cut.name, n)
		}
		if l := r.log(); !strings.Contains(l, cut.says) || !strings.Contains(l, crlFile) {
			t.Errorf("%s: the log does not name the file and the damage:\n%s", cut.name, tail(l, 2000))
		}
		if s := r.scrape(); !strings.Contains(s, fmt.Sprintf("\nportcullis_collector_client_crl_reload_failures_total %d\n", i+1)) {
			t.Errorf("%s: /metrics does not count %d failed reloads:\n%s", cut.name, i+1, s)
		}
		if code := r.sends(stolen); code != 0 {
			t.Errorf("%s: the revoked sender answered %d, want the handshake refused by the CRL in force", cut.name, code)
		}
		if code := r.sends(kept); code != 200 {
			t.Errorf("%s: the good sender answered %d, want 200", cut.name, code)
		}
	}
}

// TestCollectorClientCRLExpiredFailsClosed: a --client-crl past its
// nextUpdate no longer vouches for any certificate of its CA, so the
// collector's intake refuses every one of them at the handshake (fail
// closed, as the sidecar does), logs the CRL's expiry as an error naming
// the file and the CA, and shows it on /metrics (a negative
// portcullis_tls_client_crl_next_update_seconds, the handshakes refused
// by reason crl_expired, the count of expired CRLs), and the page passes
// promtool check metrics; a fresh CRL lets the senders in again. A real
// collector process, real TLS over loopback.
func TestCollectorClientCRLExpiredFailsClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	r := newCollectorCRLRig(t)
	kept := r.sender(4)
	// The CRL in force is issued before the stale one: a reload may not
	// put an older CRL in force (clientcrl.Set.Follows).
	first := crlTimes(1)
	first.ThisUpdate = time.Now().Add(-3 * time.Hour)
	crlFile := r.write("senders.crl", signCRL(t, r.ca, r.caKey, first))
	r.start(crlFile, kept)
	if code := r.sends(kept); code != 200 {
		t.Fatalf("a good sender, CRL current: %d, want 200", code)
	}
	stale := crlTimes(2)
	stale.ThisUpdate, stale.NextUpdate = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	r.write("senders.crl", signCRL(t, r.ca, r.caKey, stale))
	r.h.until("the handshake refused once the CRL in force is past its nextUpdate", func() (bool, string) {
		code := r.sends(kept)
		return code == 0, fmt.Sprint(code)
	})
	r.h.until("the expiry logged", func() (bool, string) {
		l := r.log()
		return strings.Contains(l, "client CRL expired") && strings.Contains(l, `"issuer":"CN=sender CA"`) && strings.Contains(l, crlFile), tail(l, 2000)
	})
	negative := regexp.MustCompile(`(?m)^portcullis_tls_client_crl_next_update_seconds\{issuer="CN=sender CA",ca_key="[0-9a-f]{16}"\} -3[56]\d\d$`)
	refused := regexp.MustCompile(`(?m)^portcullis_collector_sender_cert_refusals_total\{reason="crl_expired"\} [1-9]\d*$`)
	expired := regexp.MustCompile(`(?m)^portcullis_tls_client_crls_expired 1$`)
	r.h.until("the expiry on /metrics", func() (bool, string) {
		s := r.scrape()
		return negative.MatchString(s) && refused.MatchString(s) && expired.MatchString(s), s
	})

	t.Run("the page passes promtool check metrics", func(t *testing.T) { promtool.CheckMetrics(t, []byte(r.scrape())) })

	r.write("senders.crl", r.crl(3))
	r.h.until("a fresh CRL lets the sender in again", func() (bool, string) {
		code := r.sends(kept)
		return code == 200, fmt.Sprint(code)
	})
	r.h.until("the recovery logged", func() (bool, string) {
		l := r.log()
		return strings.Contains(l, "client CRLs current again"), tail(l, 2000)
	})
}
