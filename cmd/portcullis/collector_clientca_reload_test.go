package main

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCollectorRereadsClientCA: the collector read --client-ca once, at
// start, so a CA rotation of the senders' client certificates (the new
// CA added to the bundle, then the old one taken out) took a restart,
// and until then every sender certificate of the new CA was refused at
// the handshake. The file is now re-read when it changes: a certificate
// of the new CA is taken, one of the CA taken out refused, on a new
// connection and on one kept alive from before; a file it cannot load
// keeps the CAs in force, with one warn line naming the flag, and its
// repair one info line.
func TestCollectorRereadsClientCA(t *testing.T) {
	t.Parallel()
	old, rotated := newTestPKI(t), newTestPKI(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "client-ca.crt")
	copyFile(t, old.caFile, caFile)
	key, _ := signingKeyFile(t)
	addr := freeAddr(t)
	out := startChild(t, "", nil, true, "collector", "--data", filepath.Join(dir, "data"), "--signing-key", key,
		"--listen", addr, "--tls-cert", old.serverCert, "--tls-key", old.serverKey, "--client-ca", caFile)
	client := func(p testPKI) *http.Client {
		cert, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: old.pool, Certificates: []tls.Certificate{cert}}}}
	}
	// post sends an empty batch: answered 401 when the certificate does
	// not authenticate, else anything but 401; err when the handshake
	// refused it.
	post := func(c *http.Client) (int, error) {
		resp, err := c.Post("https://"+addr+"/v1/logs", "application/x-protobuf", strings.NewReader(""))
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	oldClient, newClient := client(old), client(rotated)
	pollUntil(t, obsWait, "a certificate of the CA in --client-ca authenticates", func() (bool, string) {
		code, err := post(oldClient)
		return err == nil && code != http.StatusUnauthorized, errString(err)
	})
	if code, err := post(newClient); err == nil {
		t.Fatalf("a certificate of a CA not in --client-ca: status %d; want the handshake refused", code)
	}
	copyFile(t, rotated.caFile, caFile)
	pollUntil(t, obsWait, "a certificate of the new CA authenticates", func() (bool, string) {
		code, err := post(newClient)
		return err == nil && code != http.StatusUnauthorized, errString(err)
	})
	if code, err := post(oldClient); err == nil && code != http.StatusUnauthorized {
		t.Errorf("a certificate of the CA taken out of --client-ca, on its connection kept alive: %d; want 401", code)
	}
	oldClient.CloseIdleConnections()
	if code, err := post(oldClient); err == nil {
		t.Errorf("a certificate of the CA taken out of --client-ca, on a new connection: %d; want the handshake refused", code)
	}
	if err := os.WriteFile(caFile+".new", []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(caFile+".new", caFile); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, obsWait, "the garbage --client-ca logged", func() (bool, string) {
		newClient.CloseIdleConnections()
		post(newClient) // the file is looked at on a handshake
		return strings.Contains(out.String(), "client CA file refused"), ""
	})
	if code, err := post(newClient); err != nil || code == http.StatusUnauthorized {
		t.Errorf("with --client-ca garbage, a certificate of the CA loaded before: %d %v; want it to authenticate", code, err)
	}
	copyFile(t, rotated.caFile, caFile)
	pollUntil(t, obsWait, "the repaired --client-ca logged", func() (bool, string) {
		newClient.CloseIdleConnections()
		post(newClient)
		return strings.Contains(out.String(), "client CA file loaded again"), ""
	})
	var warns, infos int
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "client CA file refused") {
			warns++
			if !strings.Contains(l, `"level":"warn"`) || !strings.Contains(l, `"flag":"--client-ca"`) || !strings.Contains(l, caFile) {
				t.Errorf("the refused --client-ca logged as %s; want a warn line naming the flag and the file", l)
			}
		}
		if strings.Contains(l, "client CA file loaded again") {
			infos++
		}
	}
	if warns != 1 || infos != 1 {
		t.Errorf("%d warn lines and %d info lines for one bad --client-ca and its repair; want one each:\n%s", warns, infos, out.String())
	}
}
