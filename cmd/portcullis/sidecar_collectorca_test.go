package main

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestSidecarRereadsCollectorCA: the sidecar read --collector-cacert once,
// at start, so a rotated collector CA (cert-manager or trust-manager
// updating the bundle) took a restart of every sidecar, and one started
// with a bundle lacking the new CA refused the collector's certificate
// and spooled. The file is now re-read when it changes: the collector's
// certificate of the new CA is taken and the spooled record delivered.
func TestSidecarRereadsCollectorCA(t *testing.T) {
	t.Parallel()
	old, rotated := newTestPKI(t), newTestPKI(t)
	collectorPKI := rotated
	collectorPKI.pool = old.pool // the server certificate of the new CA, clients of the old CA
	data, addr := t.TempDir(), freeAddr(t)
	startTLSCollector(t, collectorPKI, data, addr)
	caFile := filepath.Join(t.TempDir(), "collector-ca.crt")
	copyFile(t, old.caFile, caFile)
	f := runInProcess(t, sidecarFlags{policyFile: writePolicy(t, "", ""), collector: "https://" + addr,
		spoolDir: t.TempDir(), collectorCA: caFile, collectorCert: old.clientCert, collectorKey: old.clientKey})
	if got := get(t, "http://"+f.listen+"/v1/status", ""); got != 200 {
		t.Fatalf("request: %d", got)
	}
	pollUntil(t, obsWait, "the collector's certificate of a CA not in --collector-cacert refused", func() (bool, string) {
		got := value(scrapeFamilies(t, f.admin), "portcullis_audit_collector_failing")
		return got == 1, "failing " + ftoa(got)
	})
	copyFile(t, rotated.caFile, caFile)
	pollUntil(t, obsWait, "the record delivered once --collector-cacert holds the collector's new CA", func() (bool, string) {
		got := value(scrapeFamilies(t, f.admin), "portcullis_audit_records_total", "outcome", "replayed") +
			value(scrapeFamilies(t, f.admin), "portcullis_audit_records_total", "outcome", "delivered")
		return got >= 1, "delivered or replayed " + ftoa(got)
	})
}

// TestEmitterTLSVerifiesWithTheCAsInForce: the emitter's TLS
// configuration with --collector-cacert verifies the collector's
// certificate at every handshake, with the CAs the file holds then and
// the host of the collector URL: a certificate of a CA taken out of the
// file is refused, one for another host too (the name check crypto/tls
// would do, here for an IP address, which it hands VerifyConnection no
// name for), and a file it cannot load keeps the CAs in force with one
// warn line naming the flag, its repair one info line.
func TestEmitterTLSVerifiesWithTheCAsInForce(t *testing.T) {
	t.Parallel()
	old, rotated := newTestPKI(t), newTestPKI(t)
	serve := func(p testPKI) string {
		cert, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { c.(*tls.Conn).Handshake(); c.Close() }()
			}
		}()
		return ln.Addr().String()
	}
	oldAddr, newAddr := serve(old), serve(rotated)
	caFile := filepath.Join(t.TempDir(), "collector-ca.crt")
	copyFile(t, old.caFile, caFile)
	var logBuf lockedBuffer
	s, err := readEmitterSettings(sidecarFlags{collectorCA: caFile}, zerolog.New(&logBuf))
	if err != nil {
		t.Fatal(err)
	}
	dial := func(url, addr string) error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, emitterTLS(s, url))
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial("https://"+oldAddr, oldAddr); err != nil {
		t.Fatalf("the collector's certificate of the CA in --collector-cacert: %v", err)
	}
	if err := dial("https://"+newAddr, newAddr); err == nil {
		t.Fatal("a certificate of a CA not in --collector-cacert taken")
	}
	_, port, _ := net.SplitHostPort(oldAddr)
	if err := dial("https://localhost:"+port, oldAddr); err == nil {
		t.Error("dialled as localhost, a certificate for 127.0.0.1 only taken; want the name check to refuse it")
	}
	copyFile(t, rotated.caFile, caFile)
	pollUntil(t, obsWait, "the collector's certificate of the new CA taken", func() (bool, string) {
		err := dial("https://"+newAddr, newAddr)
		return err == nil, errString(err)
	})
	if err := dial("https://"+oldAddr, oldAddr); err == nil {
		t.Error("a certificate of the CA taken out of --collector-cacert taken")
	}
	if err := os.WriteFile(caFile+".new", []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(caFile+".new", caFile); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, obsWait, "the garbage --collector-cacert logged", func() (bool, string) {
		if err := dial("https://"+newAddr, newAddr); err != nil {
			t.Fatalf("with --collector-cacert garbage, the collector's certificate of the CA loaded before: %v", err)
		}
		return strings.Contains(logBuf.String(), "CA file refused"), ""
	})
	copyFile(t, rotated.caFile, caFile)
	pollUntil(t, obsWait, "the repaired --collector-cacert logged", func() (bool, string) {
		dial("https://"+newAddr, newAddr)
		return strings.Contains(logBuf.String(), "CA file loaded again"), ""
	})
	var warns, infos int
	for _, l := range strings.Split(logBuf.String(), "\n") {
		if strings.Contains(l, "CA file refused") {
			warns++
			if !strings.Contains(l, `"level":"warn"`) || !strings.Contains(l, `"flag":"--collector-cacert"`) {
				t.Errorf("the refused --collector-cacert logged as %s; want a warn line naming the flag", l)
			}
		}
		if strings.Contains(l, "CA file loaded again") {
			infos++
		}
	}
	if warns != 1 || infos != 1 {
		t.Errorf("%d warn and %d info lines for one bad --collector-cacert and its repair; want one each:\n%s", warns, infos, logBuf.String())
	}
}
