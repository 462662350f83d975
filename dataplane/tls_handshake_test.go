package dataplane

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"testing"
	"time"
)

// The handshake of the sidecar's own TLS listener is bounded and counted
// (review48): a connection that sends nothing, or half a ClientHello,
// holds one of its address's --max-conns-per-ip from the accept and is
// closed once HeaderTimeout passes (fasthttp runs the handshake under its
// read deadline), and its slot is then free again. A client cannot hold
// handshakes open past the caps or for longer than the timeout.
func TestTLSHandshakeBoundedAndCounted(t *testing.T) {
	serverCA := newAuthority(t, "server CA")
	files := tlsFiles(t, serverCA.issue(t, "sidecar", nil, true), nil)
	st := startStack(t, func(c *Config) {
		c.TLS, c.HeaderTimeout, c.MaxConnsPerIP = files, 2*time.Second, 2
	})
	silent := dialFrom(t, "127.0.0.2", st.addr)
	half := dialFrom(t, "127.0.0.2", st.addr)
	// A handshake record announcing 512 bytes, and 6 of them.
	half.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03})
	third := dialFrom(t, "127.0.0.2", st.addr)
	if !closedByServer(third) {
		t.Fatal("a third connection from an address whose two handshakes are open was not closed")
	}
	if n := st.srv.ln.Load().refused.Load(); n != 1 {
		t.Errorf("connections refused at accept: %d, want 1 (the two handshakes hold the address's two slots)", n)
	}
	if !closedByServer(silent) || !closedByServer(half) {
		t.Fatal("a handshake still open 10s after its HeaderTimeout")
	}
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	pollUntil(t, "the address's slots to be free again", func() (bool, string) {
		c := tls.Client(dialFrom(t, "127.0.0.2", st.addr), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
}
