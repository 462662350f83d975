package etcdsync_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// TestRefusalTextBounded: a document written by hand with a problem on
// every line (here 2,000 unknown fields; 1.4 MiB of them made
// 3.7 MB of text) was refused with all its problems in LastError, which
// /readyz repeats at every probe, and in one log line, which log
// shippers cut or drop (Docker splits lines at 16 KiB): the refusal
// itself could go unseen. Both now hold the first problems and say how
// much more there is.
func TestRefusalTextBounded(t *testing.T) {
	t.Parallel()
	cli, k, _ := examplePushed(t)
	logs := &logBuffer{}
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: string(k), Logger: zerolog.New(logs).Level(zerolog.DebugLevel)})
	r.atRevision(t, 1)
	var b strings.Builder
	b.WriteString("version: 1\n")
	for i := range 2_000 {
		b.WriteString("unknown" + strings.Repeat("x", i%7) + strconv.Itoa(i) + ": 1\n")
	}
	if _, err := cli.Put(context.Background(), k.Policy(), b.String()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the refusal to be logged", func() bool { return strings.Contains(logs.String(), "policy refused") })
	const most = 16 << 10
	got := r.LastError()
	if len(got) > most || !strings.Contains(got, "field unknown0 not found") || !strings.Contains(got, "more") {
		t.Errorf("LastError() is %d bytes, want at most %d naming the first problem and that more follow; starts %.200q", len(got), most, got)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) > most {
			t.Errorf("a log line of %d bytes, want at most %d: %.200q", len(line), most, line)
		}
	}
}
