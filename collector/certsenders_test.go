package collector

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// The state of client certificate senders is bounded, over real TLS on
// loopback: past MaxCertSenders live identities a new one gets 503
// cert_senders_full (JSON, Retry-After, counted), while the live ones
// still send; an identity idle past SenderIdle is forgotten, which lets
// the new one in, and a batch of the forgotten one sent again is
// acknowledged as a duplicate (its last sequences are kept:
// TestForgottenInstanceLateBatchStored), before and after a restart: it
// is never stored twice. Before the bound, every identity the CA issued was kept
// for ever.
func TestCertSendersBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	key := newTestKey(t)
	scfg := StoreConfig{SigningKey: key, Now: now, MaxCertSenders: 2, SenderIdle: time.Hour}
	st, err := OpenStore(dir, scfg)
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	start := func(st *Store) *httptest.Server {
		col, err := New(st, Config{ClientCertAuth: true, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(col)
		srv.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
		srv.StartTLS()
		return srv
	}
	srv := start(st)
	certs := map[string]tls.Certificate{}
	for _, p := range []string{"pod-1", "pod-2", "pod-3"} {
		certs[p] = ca.client(t, p)
	}
	send := func(srv *httptest.Server, pod, id string) (int, string) {
		t.Helper()
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{certs[pod]}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		defer tr.CloseIdleConnections()
		r := sampleRecord(1)
		body := audit.EncodeBatch(nil, audit.Resource{Service: "svc", Host: pod, InstanceID: id}, id, r)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader(body))
		req.Header.Set("Content-Type", FormatProtobuf)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var e struct{ Error, Message string }
		if resp.StatusCode != 200 {
			if json.Unmarshal(b, &e) != nil || e.Message == "" {
				t.Fatalf("%s %s: status %d, answer %q is not the JSON error shape", pod, id, resp.StatusCode, b)
			}
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s %s: 503 without Retry-After", pod, id)
			}
		}
		return resp.StatusCode, e.Error
	}
	expect := func(srv *httptest.Server, pod, id string, status int, code string) {
		t.Helper()
		if s, c := send(srv, pod, id); s != status || c != code {
			t.Errorf("%s batch %s: %d %q, want %d %q", pod, id, s, c, status, code)
		}
	}
	expect(srv, "pod-1", "a-1", 200, "")
	expect(srv, "pod-2", "b-1", 200, "")
	expect(srv, "pod-3", "c-1", 503, "cert_senders_full")
	expect(srv, "pod-1", "a-2", 200, "")
	if got := st.Stats().SendersFull; got == 0 {
		t.Errorf("SendersFull %d, want the refusal counted", got)
	}
	clock.Add(int64(90 * time.Minute)) // pod-1 and pod-2 idle past SenderIdle
	expect(srv, "pod-3", "c-1", 200, "")
	expect(srv, "pod-1", "a-2", 200, "") // forgotten, its last sequences kept: a duplicate, not stored twice
	expect(srv, "pod-1", "a-3", 200, "")
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = OpenStore(dir, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Rebuilt from the trail with each entry's time: pod-2, idle since
	// its one batch 90 minutes before the newest entries, is forgotten.
	if st.seen.certs != 2 || st.seen.senders["cert:pod-2"] != nil {
		t.Errorf("after a restart: %d live certificate senders, pod-2 held %v; want 2, pod-2 forgotten", st.seen.certs, st.seen.senders["cert:pod-2"] != nil)
	}
	srv = start(st)
	defer srv.Close()
	for _, id := range []string{"a-1", "a-2", "a-3"} {
		if s, _ := send(srv, "pod-1", id); s != 200 && s != 409 {
			t.Errorf("after a restart, pod-1 batch %s again: status %d, want 200 (a duplicate) or 409", id, s)
		}
	}
	count := map[string]int{}
	for _, r := range storedRecords(t, dir) {
		count[r.Sender]++
	}
	want := map[string]int{"cert:pod-1": 3, "cert:pod-2": 1, "cert:pod-3": 1}
	for s, n := range want {
		if count[s] != n {
			t.Errorf("records of %s: %d, want %d (each batch once)", s, count[s], n)
		}
	}
	st.seen.sweep(now().Add(2 * time.Hour))
	if st.seen.certs != 0 || len(st.seen.senders) != 0 {
		t.Errorf("after every sender idle past SenderIdle: %d live certificate senders (%d held), want 0", st.seen.certs, len(st.seen.senders))
	}
}
