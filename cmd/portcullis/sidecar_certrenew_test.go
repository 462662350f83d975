package main

import (
	"path/filepath"
	"testing"
)

// The sidecar read its --collector-cert and --collector-key once, at
// start: a renewed client certificate was presented only after a
// restart, and once the old one expired (or its CA was rotated out of
// the collector's --client-ca) the collector refused every batch and the
// spool filled. It now re-reads the files when they change. Here the
// collector trusts only the second CA: the first certificate is refused,
// and once the files hold the second the spooled records are delivered.
func TestSidecarPresentsRenewedCollectorCertificate(t *testing.T) {
	t.Parallel()
	first, second := newTestPKI(t), newTestPKI(t)
	collectorPKI := first
	collectorPKI.pool = second.pool // the server certificate of the first, clients of the second CA only
	data, addr := t.TempDir(), freeAddr(t)
	startTLSCollector(t, collectorPKI, data, addr)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	copyFile(t, first.clientCert, certFile)
	copyFile(t, first.clientKey, keyFile)
	f := runInProcess(t, sidecarFlags{policyFile: writePolicy(t, "", ""), collector: "https://" + addr,
		spoolDir: t.TempDir(), collectorCA: first.caFile, collectorCert: certFile, collectorKey: keyFile})
	if got := get(t, "http://"+f.listen+"/v1/status", ""); got != 200 {
		t.Fatalf("request: %d", got)
	}
	pollUntil(t, obsWait, "the first certificate refused", func() (bool, string) {
		got := value(scrapeFamilies(t, f.admin), "portcullis_audit_collector_failing")
		return got == 1, "failing " + ftoa(got)
	})
	copyFile(t, second.clientCert, certFile)
	copyFile(t, second.clientKey, keyFile)
	pollUntil(t, obsWait, "the record delivered with the renewed certificate", func() (bool, string) {
		got := value(scrapeFamilies(t, f.admin), "portcullis_audit_records_total", "outcome", "replayed") +
			value(scrapeFamilies(t, f.admin), "portcullis_audit_records_total", "outcome", "delivered")
		return got >= 1, "delivered or replayed " + ftoa(got)
	})
}
