package main

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Finding (review92): the webhook's port answers whoever reaches it, and
// the base's NetworkPolicy admits every pod (the API server's address is
// not known in advance). The API server can present a client
// certificate to webhooks (its AdmissionConfiguration's kubeconfig);
// with --client-ca the injector now requires one, so a pod's connection
// fails its handshake and never reaches a handler.

// TestInjectorRequiresAClientCertificate runs the injector with
// --client-ca over real HTTPS on loopback: a review without a client
// certificate is refused at the handshake, one with a certificate of the
// CA is answered.
func TestInjectorRequiresAClientCertificate(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	copyFile(t, pki.serverCert, certFile)
	copyFile(t, pki.serverKey, keyFile)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPortcullis$", "--", "injector", "--listen", "127.0.0.1:0",
		"--tls-cert", certFile, "--tls-key", keyFile, "--client-ca", pki.caFile)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := waitListen(t, stderr)

	review := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Namespace"},"operation":"CREATE","object":{}}}`)
	post := func(certs []tls.Certificate) (int, error) {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pki.pool, Certificates: certs}}}
		defer client.CloseIdleConnections()
		resp, err := client.Post("https://"+addr+"/inject", "application/json", bytes.NewReader(review))
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := post(nil); err == nil {
		t.Errorf("a review without a client certificate: status %d; want the handshake refused", code)
	}
	cert, err := tls.LoadX509KeyPair(pki.clientCert, pki.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := post([]tls.Certificate{cert}); err != nil || code != http.StatusOK {
		t.Errorf("a review with the CA's client certificate: %d, %v; want 200", code, err)
	}
}
