package dataplane

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// A client certificate a CRL refuses fails the TLS handshake, before any
// request, so the request path never records it. Each refusal is audited
// here instead, from the handshake (tlsConn.Handshake): the decision
// cert_revoked or cert_crl_expired, auth method mtls, the source address,
// the certificate's serial and the SHA-256 of its issuer's DER subject,
// never the certificate. Before, a refusal left only counters and a log
// line at most once a second.
//
// A client retrying a revoked certificate in a loop must not fill the
// audit spool: past refusalRecordsPerSecond records a second the
// refusals are left out, counted in
// portcullis_tls_refusal_records_suppressed_total, and summed into one
// record per decision (no serial, no address, Count the refusals left
// out) written at the next --tls-reload tick and at shutdown.

// refusalRecordsPerSecond bounds the handshake refusals recorded one by
// one each second.
const refusalRecordsPerSecond = 10

// certRefusal is the error of a handshake whose client certificate a CRL
// refuses: errCertRevoked or errCRLExpired, with what the audit record
// names of the certificate.
type certRefusal struct {
	err    error
	serial []byte   // the serial, hex
	issuer [32]byte // SHA-256 of the issuer's DER subject
}

func (e *certRefusal) Error() string { return e.err.Error() }
func (e *certRefusal) Unwrap() error { return e.err }

// newCertRefusal returns the refusal err of cert.
func newCertRefusal(err error, cert *x509.Certificate) *certRefusal {
	return &certRefusal{err: err, serial: hex.AppendEncode(nil, cert.SerialNumber.Bytes()), issuer: sha256.Sum256(cert.RawIssuer)}
}

// decision is the audit decision of the refusal.
func (e *certRefusal) decision() audit.Decision {
	if e.err == errCRLExpired {
		return audit.CertCRLExpired
	}
	return audit.CertRevoked
}

// refusalAudit writes the audit records of refused handshakes, at most
// refusalRecordsPerSecond a second. The zero value, with a nil sink,
// counts every refusal as left out; it is safe for concurrent use.
type refusalAudit struct {
	sink Sink
	// onPanic is told of a panic recovered on the TLS side (the sink's
	// Swap here, a handshake's callbacks: tlsConn.Handshake); nil: none
	// is reported.
	onPanic func(where string, p any)

	recorded, suppressed atomic.Uint64 // refusals recorded one by one, and left out

	mu   sync.Mutex // guards the following fields
	sec  int64      // the unix second n counts in
	n    int        // records written in sec
	left [2]uint64  // refusals left out since the last summary: revoked, CRL expired
}

// record audits the refusal rf of a handshake from peer at now, or
// counts it as left out.
func (a *refusalAudit) record(rf *certRefusal, peer netip.Addr, now time.Time) {
	d := rf.decision()
	if !a.admit(d, now.Unix()) {
		a.suppressed.Add(1)
		return
	}
	r := &audit.Record{Time: now.UnixNano(), Decision: d, AuthMethod: audit.AuthMTLS, SourceIP: peer, CertIssuer: rf.issuer}
	r.SetCertSerial(rf.serial)
	if a.put(r) {
		a.recorded.Add(1)
	}
}

// admit reports whether a record of decision d may be written in the
// unix second sec, counting it; one that may not is left out.
func (a *refusalAudit) admit(d audit.Decision, sec int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sink == nil {
		a.left[leftIndex(d)]++
		return false
	}
	if sec != a.sec {
		a.sec, a.n = sec, 0
	}
	if a.n >= refusalRecordsPerSecond {
		a.left[leftIndex(d)]++
		return false
	}
	a.n++
	return true
}

// leftIndex is the index of left for decision d.
func leftIndex(d audit.Decision) int {
	if d == audit.CertCRLExpired {
		return 1
	}
	return 0
}

// flush writes, for each decision with refusals left out since the last
// flush, one record whose Count is their number, dated now.
func (a *refusalAudit) flush(now time.Time) {
	a.mu.Lock()
	left := a.left
	a.left = [2]uint64{}
	sink := a.sink
	a.mu.Unlock()
	if sink == nil {
		return
	}
	for i, d := range [2]audit.Decision{audit.CertRevoked, audit.CertCRLExpired} {
		for n := left[i]; n > 0; {
			c := min(n, math.MaxUint32)
			a.put(&audit.Record{Time: now.UnixNano(), Decision: d, AuthMethod: audit.AuthMTLS, Count: uint32(c)})
			n -= c
		}
	}
}

// put hands r to the sink and reports whether it took it. It runs in a
// handshake or on the reload tick's goroutine, outside any recover: a
// panic of the sink's Swap took the whole sidecar down
// (TestTLSRefusalAuditPanicKeepsServing, TestTLSRefusalFlushPanicKeepsServing);
// the record is then not taken.
func (a *refusalAudit) put(r *audit.Record) (ok bool) {
	defer a.sinkPanicked()
	_, ok = a.sink.Swap(r)
	return ok
}

// sinkPanicked recovers a panic of the sink's Swap (put) and reports it.
func (a *refusalAudit) sinkPanicked() {
	if p := recover(); p != nil {
		a.report("tls refusal audit", p)
	}
}

// report tells onPanic, when set, of the panic p recovered in where.
func (a *refusalAudit) report(where string, p any) {
	if a.onPanic != nil {
		a.onPanic(where, p)
	}
}

// refused audits a handshake that failed with err, when a CRL refused
// its client certificate (tlsConn.Handshake).
func (r *certReloader) refused(err error, peer netip.Addr) {
	var rf *certRefusal
	if errors.As(err, &rf) {
		r.refusals.record(rf, peer, time.Now())
	}
}
