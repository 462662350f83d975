package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// The sidecar and the collector read --etcd-cert and --etcd-key once, at
// start: a renewed client certificate was presented only after a
// restart, and once the old one expired or its CA left etcd's trust,
// every reconnection failed (the sidecar's watch and member record
// stopped). Here etcd, requiring client certificates, is restarted
// trusting a second CA only while the files are renewed to a pair of that
// CA: the client reconnects with the new pair. Then files it cannot load
// keep the pair in force, with one warn line naming the flag.
func TestEtcdClientPresentsRenewedCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	t.Parallel()
	first, second := newTestPKI(t), newTestPKI(t)
	dir := t.TempDir()
	trusted := filepath.Join(dir, "client-ca.pem") // etcd's --trusted-ca-file
	certFile, keyFile := filepath.Join(dir, "etcd.crt"), filepath.Join(dir, "etcd.key")
	copyFile(t, first.caFile, trusted)
	copyFile(t, first.clientCert, certFile)
	copyFile(t, first.clientKey, keyFile)
	e, err := devetcd.StartTLS(filepath.Join(dir, "data"), first.serverCert, first.serverKey, trusted)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	var logged lockedBuffer
	cli, err := dialEtcdRenewing(etcdConnFlags{endpoints: e.Endpoints()[0], prefix: "/renew",
		conn: etcdsync.Config{CACert: first.caFile, Cert: certFile, Key: keyFile}}, zerolog.New(&logged))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	put := etcdWriter(cli, "/renew/k")
	pollUntil(t, obsWait, "a write with the first certificate", func() (bool, string) {
		err := put()
		return err == nil, errString(err)
	})

	copyFile(t, second.clientCert, certFile)
	copyFile(t, second.clientKey, keyFile)
	copyFile(t, second.caFile, trusted)
	if err := e.Restart(); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, obsWait, "a write over a new connection with the renewed certificate", func() (bool, string) {
		err := put()
		return err == nil, errString(err)
	})

	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	copyFile(t, garbage, certFile)      // renamed into place, as the kubelet swaps them
	time.Sleep(1100 * time.Millisecond) // the files are checked at most once a second
	if err := e.Restart(); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, obsWait, "a write over a new connection with the certificate kept in force", func() (bool, string) {
		err := put()
		return err == nil, errString(err)
	})
	refused := linesWith(logged.String(), "certificate files refused")
	if len(refused) != 1 || !strings.Contains(refused[0], `"level":"warn"`) || !strings.Contains(refused[0], "--etcd-cert") {
		t.Errorf("log lines on the garbage certificate file: %q; want one warn line naming --etcd-cert", refused)
	}
}

// etcdWriter returns a write of key through cli, waiting at most 2 s.
func etcdWriter(cli *clientv3.Client, key string) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := cli.Put(ctx, key, "v")
		return err
	}
}

// linesWith returns the lines of log that hold msg.
func linesWith(log, msg string) []string {
	var out []string
	for l := range strings.Lines(log) {
		if strings.Contains(l, msg) {
			out = append(out, l)
		}
	}
	return out
}
