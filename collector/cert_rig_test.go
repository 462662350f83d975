package collector

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// certCollector opens a store in dir and serves on it a collector of cfg
// authenticating senders by client certificate (serveCertCollector); the
// store closes with the test.
func certCollector(t *testing.T, dir string, cfg Config) (*httptest.Server, testCA) {
	t.Helper()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.ClientCertAuth = true
	col, err := New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return serveCertCollector(t, col)
}

// sendAs posts batch id of r to srv over TLS presenting cert, and returns
// the answer's status and its JSON error code ("" for none).
func sendAs(t *testing.T, srv *httptest.Server, cert tls.Certificate, id string, r audit.Record) (int, string) {
	t.Helper()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader(encodeBatch(id, r)))
	req.Header.Set("Content-Type", FormatProtobuf)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	json.Unmarshal(body, &e)
	return resp.StatusCode, e.Error
}
