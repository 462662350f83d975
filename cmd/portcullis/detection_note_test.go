package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/collector"
)

// TestCollectorLogsDetectionNotes: a policy whose guessing rule suspends
// (the example's before) loads, and the collector says at start what the
// rule does now: it acts only on a revoked key used with its secret
// (alert.TestContainmentNeedsVerifiedClient); policy validate prints the
// same note (TestPolicyValidateOutput).
func TestCollectorLogsDetectionNotes(t *testing.T) {
	t.Parallel()
	doc := suspendingGuesses(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	var det detection
	store, err := collector.OpenStore(filepath.Join(dir, "audit"), collector.StoreConfig{SigningKey: signingKey(t), Detection: det.hooks()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var logs bytes.Buffer
	log := zerolog.New(&logs)
	if err := det.start(t.Context(), file, nil, "", filepath.Join(dir, "audit"), store, &log); err != nil {
		t.Fatal(err)
	}
	want := `"level":"warn","message":"detection rule \"token-guessing-client\": action suspend on auth_failures acts only on a revoked key used with its secret`
	if !strings.Contains(logs.String(), want) {
		t.Errorf("collector log at start:\n%s\nwant a warn line %s...", &logs, want)
	}
}

// suspendingGuesses is the example policy with its token-guessing-client
// rule suspending, as the example had it before.
func suspendingGuesses(t *testing.T) []byte {
	t.Helper()
	example, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	const guessing = "group_by: client, threshold: 20, window: 1m, severity: high}"
	doc := bytes.Replace(example, []byte(guessing), []byte(guessing[:len(guessing)-1]+", action: suspend, suspend: 15m}"), 1)
	if bytes.Equal(doc, example) {
		t.Fatal("the example's token-guessing-client rule changed; update the test")
	}
	return doc
}
