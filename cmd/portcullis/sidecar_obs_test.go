package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/tmpfs"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// obsWait bounds the polls of these tests: a deadline for a condition on
// a loaded machine, not a speed assertion.
const obsWait = 60 * time.Second

// scrapeFamilies fetches /metrics from admin and parses it with
// Prometheus' own text parser: a family written twice (two HELP or TYPE
// lines) fails, and every family must have HELP and a TYPE.
func scrapeFamilies(t *testing.T, admin string) map[string]*dto.MetricFamily {
	t.Helper()
	code, page := body(t, "http://"+admin+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics answered %d", code)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, page)
	}
	for name, f := range fams {
		if f.GetHelp() == "" || f.GetType() == dto.MetricType_UNTYPED {
			t.Errorf("family %s lacks HELP or TYPE", name)
		}
	}
	return fams
}

// value returns the value of the first sample of family name whose labels
// include want (name=value pairs), or -1.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || l.GetName() == want[i] && l.GetValue() == want[i+1]
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// requireFamilies fails for every name missing from fams.
func requireFamilies(t *testing.T, fams map[string]*dto.MetricFamily, names ...string) {
	t.Helper()
	for _, n := range names {
		if fams[n] == nil {
			t.Errorf("/metrics lacks family %s", n)
		}
	}
}

var commonFamilies = []string{
	"portcullis_requests_total", "portcullis_request_duration_seconds", "portcullis_audit_dropped_total",
	"portcullis_policy_revision", "portcullis_policy_compile_failures_total", "portcullis_panics_total",
	"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total",
}

// File mode: /metrics parses and holds every family once (issue 13, item 9).
func TestSidecarMetricsParseFileMode(t *testing.T) {
	f := runInProcess(t, sidecarFlags{policyFile: writePolicy(t, "", ""), auditFile: filepath.Join(t.TempDir(), "a.jsonl")})
	get(t, "http://"+f.listen+"/v1/status", "")
	fams := scrapeFamilies(t, f.admin)
	requireFamilies(t, fams, commonFamilies...)
	if got := value(fams, "portcullis_policy_revision"); got != 1 {
		t.Errorf("portcullis_policy_revision = %v, want 1", got)
	}
	if got := value(fams, "portcullis_requests_total", "decision", "allowed"); got != 1 {
		t.Errorf("allowed requests = %v, want 1", got)
	}
	// The file's own outcomes: a full disk's failed writes and records
	// lost at close were counted nowhere before
	// (TestFileWriterDiskFullKeepsRecords).
	requireFamilies(t, fams, "portcullis_audit_records_total", "portcullis_audit_file_write_errors_total", "portcullis_audit_file_failing")
	if got := value(fams, "portcullis_audit_records_total", "outcome", "captured"); got != 1 {
		t.Errorf(`portcullis_audit_records_total{outcome="captured"} = %v, want 1`, got)
	}
}

// etcd mode: /metrics parses after a refused policy (the family
// portcullis_policy_compile_failures_total used to appear twice, with two
// HELP lines), and the policy revision gauge shows the pushed revision
// before any request (it used to move only on the next request).
func TestSidecarMetricsParseEtcdMode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	e, cli := etcdClient(t)
	const prefix = "/obs-test"
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	admin := etcdadmin.New(cli, prefix)
	rev, err := admin.PushPolicy(context.Background(), doc, 0, etcdadmin.Meta{Actor: "test", Reason: "obs", Ticket: "T-1"})
	if err != nil {
		t.Fatal(err)
	}
	f := runInProcess(t, sidecarFlags{etcd: etcdConnFlags{endpoints: strings.Join(e.Endpoints(), ","), prefix: prefix},
		stateDir: t.TempDir(), pod: "obs-pod"})
	pollUntil(t, obsWait, "the pushed revision in /metrics", func() (bool, string) {
		// At the push or later: the member record's write may come
		// before the sidecar's first read of the state (CI saw 3, push 2).
		got := value(scrapeFamilies(t, f.admin), "portcullis_policy_revision")
		return got >= float64(rev), "portcullis_policy_revision " + ftoa(got)
	})

	// A policy written past the CLI's validation is refused by the sidecar.
	if _, err := cli.Put(context.Background(), prefix+"/policy", "version: 1\nbogus: [\n"); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, obsWait, "the refusal counted", func() (bool, string) {
		got := value(scrapeFamilies(t, f.admin), "portcullis_policy_compile_failures_total")
		return got == 1, "compile failures " + ftoa(got)
	})
	get(t, "http://"+f.listen+"/v1/status", "")
	fams := scrapeFamilies(t, f.admin)
	requireFamilies(t, fams, append(commonFamilies, "portcullis_policy_staleness_seconds", "portcullis_etcd_revision",
		"portcullis_etcd_current", "portcullis_etcd_watch_restarts_total")...)
	if pol, read := value(fams, "portcullis_policy_revision"), value(fams, "portcullis_etcd_revision"); pol < float64(rev) || read < pol {
		t.Errorf("policy revision %v, etcd revision read %v: want %d <= policy <= read", pol, read, rev)
	}
	code, ready := body(t, "http://"+f.admin+"/readyz")
	if code != 200 || !strings.Contains(ready, "etcd: ok, in sync at revision") || !strings.Contains(ready, "last policy refused") {
		t.Errorf("/readyz = %d %q, want ready, in sync, naming the refusal", code, ready)
	}
}

func ftoa(v float64) string { return big.NewFloat(v).String() }

// The sidecar reaches a collector in its mTLS mode with --collector-cacert,
// --collector-cert and --collector-key; the stored batches carry
// service.name from --service; /metrics holds the portcullis_audit_*
// families with HELP and TYPE; /readyz shows the audit path's state. A
// sidecar without the client certificate is refused, and its /readyz
// says so with the collector's answer (issue 13, items 7 and 9).
func TestSidecarCollectorMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	data, addr := t.TempDir(), freeAddr(t)
	startTLSCollector(t, pki, data, addr)

	f := runInProcess(t, sidecarFlags{policyFile: writePolicy(t, "", ""), collector: "https://" + addr,
		spoolDir: t.TempDir(), collectorCA: pki.caFile, collectorCert: pki.clientCert, collectorKey: pki.clientKey,
		service: "billing", pod: "billing-7d9f-abcde"})
	for range 3 {
		if got := get(t, "http://"+f.listen+"/v1/status", ""); got != 200 {
			t.Fatalf("request: %d", got)
		}
	}
	pollUntil(t, obsWait, "3 records delivered", func() (bool, string) {
		got := value(scrapeFamilies(t, f.admin), "portcullis_audit_records_total", "outcome", "delivered")
		return got == 3, "delivered " + ftoa(got)
	})
	fams := scrapeFamilies(t, f.admin)
	requireFamilies(t, fams, append(commonFamilies, "portcullis_audit_records_total", "portcullis_audit_spool_records",
		"portcullis_audit_delivery_failures_total", "portcullis_audit_collector_failing")...)
	code, ready := body(t, "http://"+f.admin+"/readyz")
	if code != 200 || !strings.Contains(ready, "audit collector: ok, https://"+addr+": delivering") {
		t.Errorf("/readyz = %d %q, want the collector delivering", code, ready)
	}
	if !containsInFiles(t, data, `"service":"billing"`) {
		t.Error(`no stored batch says "service":"billing"`)
	}

	// Without a client certificate the collector answers 401.
	bad := runInProcess(t, sidecarFlags{policyFile: writePolicy(t, "", ""), collector: "https://" + addr,
		spoolDir: t.TempDir(), collectorCA: pki.caFile})
	get(t, "http://"+bad.listen+"/v1/status", "")
	pollUntil(t, obsWait, "/readyz to show the refusal", func() (bool, string) {
		_, ready := body(t, "http://"+bad.admin+"/readyz")
		return strings.Contains(ready, "failing since") && strings.Contains(ready, "unauthenticated: 401"), ready
	})
	if got := value(scrapeFamilies(t, bad.admin), "portcullis_audit_collector_failing"); got != 1 {
		t.Errorf("portcullis_audit_collector_failing = %v, want 1", got)
	}
}

// The flags' defaults: --service portcullis, --drain-delay 5s.
func TestSidecarFlagDefaults(t *testing.T) {
	var f sidecarFlags
	fs := flag.NewFlagSet("sidecar", flag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if f.service != "portcullis" || f.drainDelay != 5*time.Second {
		t.Errorf("--service %q, --drain-delay %v; want portcullis, 5s", f.service, f.drainDelay)
	}
	t.Setenv("POD_NAME", "from-downward-api")
	if got := f.podName(); got != "from-downward-api" {
		t.Errorf("podName with POD_NAME set = %q", got)
	}
	f.pod = "from-flag"
	if got := f.podName(); got != "from-flag" {
		t.Errorf("podName with --pod = %q", got)
	}
}

func containsInFiles(t *testing.T, dir, s string) bool {
	t.Helper()
	found := false
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			found = found || strings.Contains(string(b), s)
		}
		return nil
	})
	return found
}

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
// onlyAEADSuites fails t unless the TLS server at addr (its certificate
// signed by pool's CA) refuses a TLS 1.2 client offering only CBC suites
// and serves one offering only GCM: the collector's intake and the
// injector's webhook took Go's default TLS 1.2 suites, CBC with
// HMAC-SHA1 (MAC-then-encrypt, Lucky13's padding-oracle timing) among
// them, as the sidecar's listener did (dataplane.TestTLS12CBCRefused).
func onlyAEADSuites(t *testing.T, what, addr string, pool *x509.CertPool) {
	t.Helper()
	dial := func(suites ...uint16) error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
			&tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12, CipherSuites: suites})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256); err == nil {
		t.Errorf("%s: a TLS 1.2 client offering only CBC suites was served; want it refused", what)
	}
	if err := dial(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256); err != nil {
		t.Errorf("%s: a TLS 1.2 client offering AES-128-GCM: %v; want it served", what, err)
	}
}

type testPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
	pool                                                 *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := testPKI{caFile: filepath.Join(dir, "ca.pem"), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	issue := func(serial int64, name string, usage x509.ExtKeyUsage) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		certFile, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
		return certFile, keyFile
	}
	p.serverCert, p.serverKey = issue(2, "collector", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue(3, "sidecar", x509.ExtKeyUsageClientAuth)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startTLSCollector serves a real collector in its client-certificate
// mode (no token) over TLS on addr, storing in data.
func startTLSCollector(t *testing.T, pki testPKI, data, addr string) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	col, err := collector.New(st, collector.Config{ClientCertAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: col, TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, ClientCAs: pki.pool,
		ClientAuth: tls.VerifyClientCertIfGiven}}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, pki.serverCert, pki.serverKey) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("collector: %v", err)
		}
		st.Close()
	})
}

// A password in the collector URL never reaches the log or /readyz.
func TestRedactURL(t *testing.T) {
	if got := redactURL("https://sidecar:s3cret@collector:4318"); strings.Contains(got, "s3cret") || !strings.Contains(got, "collector:4318") {
		t.Errorf("redactURL = %q", got)
	}
}

// etcd mode with a full --state-dir: the last-known-good file cannot be
// saved. /readyz stays ready (the policy in force is current) and its
// last-known-good line says since when and why the saves fail; /metrics
// has the failure counter and gauge the alert PortcullisLastKnownGoodNotSaved
// watches. Once there is room the line and the gauge clear.
func TestSidecarReportsLastKnownGoodSaveFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	dir := tmpfs.Mount(t, 256<<10)
	filler := tmpfs.Fill(t, dir)
	e, cli := etcdClient(t)
	const prefix = "/lkg-test"
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcdadmin.New(cli, prefix).PushPolicy(context.Background(), doc, 0, etcdadmin.Meta{Actor: "test", Reason: "lkg", Ticket: "T-1"}); err != nil {
		t.Fatal(err)
	}
	f := runInProcess(t, sidecarFlags{etcd: etcdConnFlags{endpoints: strings.Join(e.Endpoints(), ","), prefix: prefix}, stateDir: dir, pod: "lkg-pod"})
	pollUntil(t, obsWait, "the failed saves in /readyz", func() (bool, string) {
		code, ready := body(t, "http://"+f.admin+"/readyz")
		return code == 200 && strings.Contains(ready, "\nlast-known-good: ok, saves failing since ") &&
			strings.Contains(ready, "no space left on device") && strings.Contains(ready, "etcd: ok, in sync at revision"), ready
	})
	fams := scrapeFamilies(t, f.admin)
	if got := value(fams, "portcullis_policy_lkg_failing"); got != 1 {
		t.Errorf("portcullis_policy_lkg_failing = %v, want 1", got)
	}
	if got := value(fams, "portcullis_policy_lkg_save_failures_total"); got < 1 {
		t.Errorf("portcullis_policy_lkg_save_failures_total = %v, want at least 1", got)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, obsWait, "the save retried", func() (bool, string) {
		_, ready := body(t, "http://"+f.admin+"/readyz")
		return strings.Contains(ready, "\nlast-known-good: ok, revision "), ready
	})
	if got := value(scrapeFamilies(t, f.admin), "portcullis_policy_lkg_failing"); got != 0 {
		t.Errorf("portcullis_policy_lkg_failing = %v after the save, want 0", got)
	}
}
