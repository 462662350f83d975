package collector

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// lockedBuffer is a log destination that the servers' goroutines and the
// test read and write together.
type lockedBuffer struct {
	mu sync.Mutex // guards the following field
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTLSHandshakeErrorsLoggedAsJSONAndCounted: net/http reports each
// failed TLS handshake (and each accept error it retries, such as
// EMFILE) through the server's ErrorLog, and the collector's servers had
// none, so every connection that sent bytes which were not a handshake
// wrote a plain-text line to stderr ("2026/12/05 14:15:23 http: TLS
// handshake error from ..."), outside the JSON log and at whatever rate a
// peer without a credential chose, and nothing counted them. Now they go
// to the collector's log as JSON, at most one line a second with the
// count left out, and portcullis_collector_connection_errors_total
// counts every one.
func TestTLSHandshakeErrorsLoggedAsJSONAndCounted(t *testing.T) {
	t.Parallel()
	st, err := OpenStore(t.TempDir(), StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out lockedBuffer
	log := zerolog.New(&out)
	col, err := New(st, Config{Token: aliceToken, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t)
	srv := col.HTTPServer()
	srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{ca.serverCert(t)}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	defer func() {
		srv.Close()
		if err := <-done; err != http.ErrServerClosed {
			t.Error(err)
		}
	}()

	const n = 20
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		// A handshake record announcing a 6 MiB message: refused at once.
		c.Write([]byte("\x16\x03\x01\x00\x05hello-not-a-handshake"))
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		c.Read(make([]byte, 64)) // until the collector closes it
		c.Close()
	}
	metric := "portcullis_collector_connection_errors_total " + "20"
	for !strings.Contains(metricsPage(t, col), metric) {
		if !strings.Contains(metricsPage(t, col), "portcullis_collector_connection_errors_total") {
			t.Fatalf("no portcullis_collector_connection_errors_total on /metrics; log: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond) // the server logs after the client saw the close
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) == 0 || len(lines) >= n {
		t.Fatalf("%d log lines for %d failed handshakes, want at least one and fewer: %q", len(lines), n, out.String())
	}
	for _, l := range lines {
		var v struct{ Level, Message, Error string }
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.Level != "warn" || !strings.Contains(v.Error, "TLS handshake error") {
			t.Fatalf("log line %q: want a JSON warn line naming the TLS handshake error (%v)", l, err)
		}
	}
}

// metricsPage returns the collector's /metrics page.
func metricsPage(t *testing.T, col *Collector) string {
	t.Helper()
	rec := httptest.NewRecorder()
	col.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}
