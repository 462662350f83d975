package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiverVerify is the receiver's algorithm as docs/alerts.md documents
// it, written from the documentation, not with Sign: the
// signature header is "v2=" and the hex HMAC-SHA256, under the shared
// secret, of the timestamp, a newline, the delivery id, a newline and the
// body; the timestamp within the allowed skew of the receiver's clock.
func receiverVerify(secret []byte, h http.Header, body []byte, now time.Time) bool {
	ts, err := strconv.ParseInt(h.Get("X-Portcullis-Timestamp"), 10, 64)
	if err != nil || now.Sub(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return false
	}
	id := h.Get("X-Portcullis-Delivery")
	if id == "" {
		return false
	}
	m := hmac.New(sha256.New, secret)
	io.WriteString(m, h.Get("X-Portcullis-Timestamp")+"\n"+id+"\n")
	m.Write(body)
	return hmac.Equal([]byte("v2="+hex.EncodeToString(m.Sum(nil))), []byte(h.Get("X-Portcullis-Signature")))
}

// TestWebhookSignatureCoversDeliveryID: a receiver deduplicates deliveries
// by X-Portcullis-Delivery. The signature covered only the timestamp and
// the body, so whoever captured a delivery (a proxy's log, a mirror of
// the receiver's traffic) could replay it within the allowed skew under
// a new delivery id, and the receiver filed it again. The captured
// delivery here is a real one, taken off the wire by the receiver's
// HTTP server; replayed with another id, both the documented algorithm
// and VerifyWebhook refuse it.
func TestWebhookSignatureCoversDeliveryID(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-for-the-test")
	var mu sync.Mutex
	var hdr http.Header
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hdr, body = r.Header.Clone(), b
		mu.Unlock()
		io.WriteString(w, `{"ticket":"SEC-1"}`)
	}))
	defer srv.Close()
	s := &Sink{Name: "secops", Kind: "webhook", URL: srv.URL, secret: secret}
	a := &Alert{ID: "alert-20261201T090000Z-0000000000000001", Rule: "token-guessing-client", Severity: "high", Group: "client", Key: "acme-hris"}
	if _, err := s.deliver(srv.Client(), a, time.Now()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	now := time.Now()
	if !receiverVerify(secret, hdr, body, now) {
		t.Errorf("the documented receiver algorithm refuses a genuine delivery: signature %q", hdr.Get(HeaderSignature))
	}
	if err := VerifyWebhook(secret, hdr, body, now, 5*time.Minute); err != nil {
		t.Fatalf("VerifyWebhook of a genuine delivery: %v", err)
	}
	replay := hdr.Clone()
	replay.Set(HeaderDelivery, a.ID+".secops-replayed")
	if receiverVerify(secret, replay, body, now) {
		t.Error("the documented receiver algorithm accepts the delivery replayed under a new delivery id")
	}
	if err := VerifyWebhook(secret, replay, body, now, 5*time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyWebhook of the delivery replayed under a new id: %v, want ErrBadSignature", err)
	}
	replay.Del(HeaderDelivery)
	if err := VerifyWebhook(secret, replay, body, now, 5*time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyWebhook of the delivery without its id: %v, want ErrBadSignature", err)
	}
	if !strings.HasPrefix(hdr.Get(HeaderSignature), "v2=") {
		t.Errorf("signature %q does not name its scheme v2", hdr.Get(HeaderSignature))
	}
}
