package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
)

// TestReloadRefusalLogBounded: a file-mode sidecar refusing a reload
// logged the whole error on one line, megabytes for a file with a problem
// on every line (2,000 unknown fields made 172 KB), a line log shippers
// split or drop (Docker at 16 KiB), so the refusal could go unseen. The
// line holds the first 8 KiB of problems and says how much more there is,
// as etcd mode's refusals do.
func TestReloadRefusalLogBounded(t *testing.T) {
	dir := t.TempDir()
	example, err := os.ReadFile("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, example, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	hup := make(chan os.Signal, 1)
	src, err := watchPolicyFile(context.Background(), path, hup, &policy.Store{}, zerolog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer src.close()
	var b strings.Builder
	b.WriteString("version: 1\n")
	for i := range 2_000 {
		b.WriteString("unknown" + strings.Repeat("x", i%7) + strconv.Itoa(i) + ": 1\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	hup <- nil
	poll(t, "the refusal to be logged", func() bool { return strings.Contains(logs.String(), "policy reload refused") })
	const most = 16 << 10
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) > most {
			t.Errorf("a log line of %d bytes, want at most %d: %.200q", len(line), most, line)
		}
		if strings.Contains(line, "policy reload refused") && (!strings.Contains(line, "unknown0") || !strings.Contains(line, "more lines")) {
			t.Errorf("the refusal does not name the first problem and that more follow: %.300q", line)
		}
	}
}

// A policy refused at the first load, before anything is served, stops
// the start with an error that is logged whole ("sidecar failed", the
// collector's start): it is cut as a refused reload's is, naming the
// first problem, how much more there was and the command that lists it.
// Before, a file with a problem on every line made an error, and a log
// line, of megabytes.
func TestFirstPolicyLoadRefusalBounded(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("version: 1\n")
	for i := range 20_000 {
		b.WriteString("unknown" + strings.Repeat("x", i%7) + strconv.Itoa(i) + ": 1\n")
	}
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	const most = 16 << 10
	check := func(who string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: the policy was taken; want it refused", who)
		}
		if msg := err.Error(); len(msg) > most || !strings.Contains(msg, "unknown0") || !strings.Contains(msg, "more lines") || !strings.Contains(msg, "portcullis policy validate "+path) {
			t.Errorf("%s: a refusal of %d bytes, want at most %d naming the first problem, that more follow and how to list them: %.300q", who, len(msg), most, msg)
		}
	}
	_, err := watchPolicyFile(context.Background(), path, make(chan os.Signal, 1), &policy.Store{}, zerolog.Nop())
	check("the sidecar's first load", err)
	log := zerolog.Nop()
	check("the collector's start", (&detection{}).start(context.Background(), path, nil, "", t.TempDir(), nil, &log))
}
