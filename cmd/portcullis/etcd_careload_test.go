package main

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestEtcdClientRereadsCACert: the sidecar and the collector read
// --etcd-cacert once, at start, so a rotated etcd CA (its bundle updated
// in the mounted Secret) took a restart: every reconnection to etcd
// serving a certificate of the new CA failed until then. Each new
// connection now verifies etcd's certificate with the CAs the file holds
// then: here etcd is restarted with a server certificate of a new CA
// once the file holds it, then with one of the CA taken out (refused),
// and a file it cannot load keeps the CAs in force, with one warn line
// naming the flag. The endpoint is an IP address: the name check is
// gRPC's and crypto/tls's own.
func TestEtcdClientRereadsCACert(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	t.Parallel()
	first, second := newTestPKI(t), newTestPKI(t)
	dir := t.TempDir()
	serverCert, serverKey := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	serve := func(p testPKI) {
		copyFile(t, p.serverCert, serverCert)
		copyFile(t, p.serverKey, serverKey)
	}
	serve(first)
	caFile := filepath.Join(dir, "etcd-ca.pem")
	copyFile(t, first.caFile, caFile)
	e, err := devetcd.StartTLS(filepath.Join(dir, "data"), serverCert, serverKey, first.caFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	var logged lockedBuffer
	cli, err := dialEtcdRenewing(etcdConnFlags{endpoints: e.Endpoints()[0], prefix: "/careload",
		conn: etcdsync.Config{CACert: caFile, Cert: first.clientCert, Key: first.clientKey}}, zerolog.New(&logged))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	put := etcdWriter(cli, "/careload/k")
	// restart restarts etcd serving p's certificate, and waits until it
	// serves it.
	restart := func(p testPKI) {
		t.Helper()
		serve(p)
		if err := e.Restart(); err != nil {
			t.Fatal(err)
		}
		addr := strings.TrimPrefix(e.Endpoints()[0], "https://")
		pollUntil(t, obsWait, "etcd serving the certificate", func() (bool, string) {
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.pool})
			if err == nil {
				c.Close()
			}
			return err == nil, errString(err)
		})
	}
	pollUntil(t, obsWait, "a write to etcd serving a certificate of the CA in --etcd-cacert", func() (bool, string) {
		err := put()
		return err == nil, errString(err)
	})

	copyFile(t, second.caFile, caFile)
	restart(second)
	pollUntil(t, obsWait, "a write over a new connection to etcd serving a certificate of the new CA", func() (bool, string) {
		err := put()
		return err == nil, errString(err)
	})

	restart(first)
	if err := put(); err == nil {
		t.Error("a write to etcd serving a certificate of the CA taken out of --etcd-cacert succeeded; want it refused")
	}

	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	copyFile(t, garbage, caFile)
	time.Sleep(1100 * time.Millisecond) // the file is checked at most once a second
	restart(second)
	pollUntil(t, obsWait, "a write over a new connection with the CAs kept in force", func() (bool, string) {
		err := put()
		return err == nil, errString(err)
	})
	refused := linesWith(logged.String(), "CA file refused")
	if len(refused) != 1 || !strings.Contains(refused[0], `"level":"warn"`) || !strings.Contains(refused[0], `"flag":"--etcd-cacert"`) {
		t.Errorf("log lines on the garbage --etcd-cacert: %q; want one warn line naming the flag", refused)
	}
	copyFile(t, second.caFile, caFile)
	time.Sleep(1100 * time.Millisecond)
	restart(second) // the file is looked at on a new connection
	pollUntil(t, obsWait, "the repaired --etcd-cacert logged", func() (bool, string) {
		put()
		return strings.Contains(logged.String(), "CA file loaded again"), ""
	})
}
