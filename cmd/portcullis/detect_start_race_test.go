package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/alert"
)

// TestStartTicketsRotationWarningsDueAtStart: a key's rotation warning
// came due while the collector was stopped. The first Tick fires it as
// the collector starts, and its ticket must reach the sink. The Tick ran
// in its own goroutine before the outbox and the containment runner were
// set up, and its OnOpen read them while start wrote them (a data race,
// which go test -race reports): an alert opened in between was neither
// queued nor contained until the next start.
func TestStartTicketsRotationWarningsDueAtStart(t *testing.T) {
	t.Parallel()
	secret := "s3cret-for-the-start-test"
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if alert.VerifyWebhook([]byte(secret), r.Header, body, time.Now(), 5*time.Minute) == nil && strings.Contains(string(body), `"kind":"key_rotation"`) {
			got.Add(1)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(raw), "max_key_age: 87600h", "max_key_age: 2160h", 1) // the keys of 2026-01-01 are due
	doc = strings.Replace(doc, `url: "http://127.0.0.1:9099/alerts", secret: "env:PORTCULLIS_TICKET_SECRET"`, `url: "`+srv.URL+`/alerts", secret: "file:`+secretFile+`"`, 1)
	file := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, _ := openDetection(t, ctx, filepath.Join(dir, "audit"), signingKey(t), file, nil)
	defer store.Close()
	deadline := time.Now().Add(60 * time.Second)
	for got.Load() < 3 { // the policy's keys not revoked
		if time.Now().After(deadline) {
			t.Fatalf("%d key_rotation tickets delivered, want 3", got.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
