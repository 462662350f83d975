package dataplane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"
)

// A TLS listener's connections are not wrapped (fasthttp must see the TLS
// connection to handshake): its requests are served from the pool and
// enforced like any other.
func TestServeTLSListener(t *testing.T) {
	st := startStack(t, nil)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sidecar"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	go st.srv.Serve(tlsLn)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, c := range []struct {
		key    string
		status int
	}{{hrisKey, 200}, {"", 401}, {hrisKey, 200}} {
		req, _ := http.NewRequest("GET", "https://"+ln.Addr().String()+"/v1/users/7", nil)
		if c.key != "" {
			req.Header.Set("X-API-Key", c.key)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("over TLS with key %q: got %d, want %d", c.key, resp.StatusCode, c.status)
		}
	}
	if rec := st.sink.last(t); rec.Client != "acme-hris" || rec.SourceIP.String() != "127.0.0.1" {
		t.Errorf("audit over TLS: client %q, source %s", rec.Client, rec.SourceIP)
	}
	if got := st.up.received(); len(got) != 2 || got[1].uri != "/v1/users/7" || got[1].headers["x-portcullis-client"] != "acme-hris" {
		t.Errorf("upstream got %d requests, last %+v", len(got), got[len(got)-1])
	}
}
