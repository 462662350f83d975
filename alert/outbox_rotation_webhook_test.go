package alert

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWebhookResendAfterKeyRotationCarriesIdempotencyKey: a webhook took
// a delivery and answered after the collector gave up; the collector's
// key is rotated, the queued file refused and the delivery queued again
// from the trail. The receiver here is a real HTTP server on loopback
// that files a ticket once per Idempotency-Key, the header of the IETF
// httpapi draft (draft-ietf-httpapi-idempotency-key-header: a Structured
// Field string, quoted), as payment and ticket APIs take it. Before,
// the collector sent none, and a receiver keying on it filed two tickets
// (idempotency keys [""  ""]); now each try of a delivery carries its
// delivery id as its idempotency key.
func TestWebhookResendAfterKeyRotationCarriesIdempotencyKey(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-for-the-test")
	var mu sync.Mutex
	var keys []string
	filed := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := VerifyWebhook(secret, req.Header, body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		k := req.Header.Get("Idempotency-Key")
		mu.Lock()
		keys = append(keys, k)
		ticket, seen := filed[k]
		if !seen {
			ticket = "T-" + string(rune('0'+len(filed)+1))
			filed[k] = ticket
		}
		first := len(keys) == 1
		mu.Unlock()
		if first {
			<-req.Context().Done() // filed; answered after the client gave up
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"ticket": ticket})
	}))
	t.Cleanup(srv.Close)
	sinks := []*Sink{{Name: "secops", Kind: "webhook", URL: srv.URL, secret: secret}}
	r := newRig(t, examplePolicy(t))
	dir := t.TempDir()
	tryFailed := make(chan struct{}, 1)
	start := func(key ed25519.PrivateKey, minBackoff time.Duration) (*Outbox, func()) {
		o, err := NewOutbox(OutboxConfig{Dir: dir, Sinks: sinks, Engine: r.eng, Key: key,
			Client: &http.Client{Timeout: 300 * time.Millisecond}, MinBackoff: minBackoff, MaxBackoff: 2 * minBackoff,
			OnError: func(error) {
				select {
				case tryFailed <- struct{}{}:
				default:
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); o.Run(ctx) }()
		return o, func() { cancel(); <-done }
	}
	r.send(every(t0, time.Second, 25, failed("acmehris1"))...)
	a := wantAlerts(t, r, "token-guessing-client", 1)[0]

	o1, stop := start(r.key, time.Hour)
	if err := o1.Enqueue(a); err != nil {
		t.Fatal(err)
	}
	<-tryFailed
	stop()
	if _, err := os.Stat(filepath.Join(dir, a.ID+"~secops.json")); err != nil {
		t.Fatalf("the delivery is not queued after its failed try: %v", err)
	}

	_, rotated, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, stop = start(rotated, 5*time.Millisecond)
	defer stop()
	waitFor(t, "the alert's ticket", func() bool { a, _ := r.eng.Alert(a.ID); return hasTicket(&a, "secops") })
	mu.Lock()
	defer mu.Unlock()
	want := `"` + a.ID + `.secops"`
	if len(filed) != 1 || len(keys) < 2 || strings.Count(strings.Join(keys, " "), want) != len(keys) {
		t.Errorf("idempotency keys %q, tickets filed %v; want every try keyed %s, one ticket", keys, filed, want)
	}
}
