package collector

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// What the in-flight budget keeps per sender (its share: one sender holds
// at most half the budget) is kept while the sender has a request being
// read, not for ever: it was an entry per sender name ever seen, made
// before the sender was admitted, so every client certificate identity
// that sent a batch, those refused 503 cert_senders_full included, stayed
// in the collector's memory, outside the bound on certificate senders
// (--max-cert-senders). Over real TLS on loopback, twelve identities
// past a bound of one leave nothing behind once answered.
func TestInflightSharesNotKeptPerSenderEver(t *testing.T) {
	t.Parallel()
	st, err := OpenStore(t.TempDir(), StoreConfig{SigningKey: newTestKey(t), MaxCertSenders: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	col, err := New(st, Config{ClientCertAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, ca := serveCertCollector(t, col)
	codes := map[int]int{}
	for i := range 12 {
		pod := "pod-" + strconv.Itoa(i)
		tr := srv.Client().Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{ca.client(t, pod)}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		body := audit.EncodeBatch(nil, audit.Resource{Service: "svc", Host: pod, InstanceID: pod}, pod+"-1", sampleRecord(i))
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader(body))
		req.Header.Set("Content-Type", FormatProtobuf)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		tr.CloseIdleConnections()
		codes[resp.StatusCode]++
	}
	if codes[200] != 1 || codes[503] != 11 {
		t.Fatalf("answers %v, want one batch stored and 11 refused cert_senders_full", codes)
	}
	if n := col.inflight.shares(); n != 0 {
		t.Errorf("with no request being read, the in-flight budget keeps the shares of %d senders, want 0: one per certificate identity that ever sent, refused ones included, without bound", n)
	}
}
