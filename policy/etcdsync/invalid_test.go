package etcdsync_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// logBuffer is a zerolog destination tests can read while a Syncer writes.
type logBuffer struct {
	mu sync.Mutex // guards the following fields
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestInvalidRecordsDoNotFreezeRevocations is issue 13 item 2: an
// undecodable record under keys/ (or revocations/, suspensions/) is left
// out, counted and logged once, and revocations pushed after it still
// apply. A bad revocation or suspension record fails closed.
func TestInvalidRecordsDoNotFreezeRevocations(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := etcdadmin.New(cli, prefix)
	push(t, a, examplePolicy(t))
	logs := &logBuffer{}
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: prefix, Logger: zerolog.New(logs).Level(zerolog.DebugLevel)})
	ctx := context.Background()
	put := func(key, value string) int64 {
		t.Helper()
		resp, err := cli.Put(ctx, prefix+key, value)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	r.atRevision(t, put("/keys/x", "{not json"))
	put("/keys/y", `{"id":"z"}`) // decodes, but names another key

	rev, err := a.RevokeKey(ctx, "acmeadm1", meta)
	if err != nil {
		t.Fatalf("RevokeKey(acmeadm1) with a broken key record beside it: %v", err)
	}
	snap := r.atRevision(t, rev)
	if !snap.Key([]byte("acmeadm1")).Revoked {
		t.Error("acmeadm1 not revoked: a broken key record froze revocations")
	}

	// A revocation and a suspension that do not decode still revoke and suspend.
	put("/revocations/acmehris1", "garbage")
	snap = r.atRevision(t, put("/suspensions/globex-bi", "{"))
	if !snap.Key([]byte("acmehris1")).Revoked {
		t.Error("acmehris1 not revoked by an undecodable revocation record")
	}
	if !snap.Client("globex-bi").Suspended {
		t.Error("globex-bi not suspended by an undecodable suspension record")
	}
	if got, want := r.InvalidRecords(), int64(4); got != want {
		t.Errorf("InvalidRecords() = %d, want %d", got, want)
	}
	m := string(r.AppendMetrics(nil))
	for _, want := range []string{"portcullis_policy_invalid_records 4\n", "portcullis_policy_invalid_records_total 4\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
	out := logs.String()
	for _, name := range []string{`key record \"x\"`, `key record \"y\"`, `revocation record \"acmehris1\"`, `suspension record \"globex-bi\"`} {
		if n := strings.Count(out, name); n != 1 {
			t.Errorf("log names %s %d times, want once (logged, not repeated per recompile):\n%s", name, n, out)
		}
	}
	if strings.Contains(out, "policy refused") {
		t.Errorf("an invalid record refused the policy:\n%s", out)
	}

	// Fixing the records clears the gauge; the total stays.
	if _, err := cli.Delete(ctx, prefix+"/keys/", clientWithPrefix()...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "two invalid records left", func() bool { return r.InvalidRecords() == 2 })
}

// TestOutageLoggedOnce is issue 13 item 8: losing etcd is one warn line
// and getting it back one info line, however many retries fail between.
func TestOutageLoggedOnce(t *testing.T) {
	t.Parallel()
	e := ownEtcd(t)
	cli := dial(t, e)
	a := etcdadmin.New(cli, "")
	push(t, a, examplePolicy(t))
	logs := &logBuffer{}
	r := runSyncer(t, cli, etcdsync.SyncConfig{Progress: 100 * time.Millisecond, Logger: zerolog.New(logs).Level(zerolog.DebugLevel)})
	r.atRevision(t, 1)
	// A fresh etcd may time out the first short confirmations; start
	// counting once the Syncer has seen it answer.
	waitFor(t, 30*time.Second, "etcd confirmed reachable", func() bool { return r.Down() == 0 && r.store.HeardAt() > 0 })
	mark := len(logs.String())
	e.Stop()
	waitFor(t, 30*time.Second, "three failed confirmations", func() bool {
		return strings.Count(logs.String()[mark:], "cannot confirm the policy revision") >= 3
	})
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the recovery line", func() bool { return strings.Contains(logs.String()[mark:], "etcd reachable again") })
	rev, err := a.RevokeKey(context.Background(), "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	r.atRevision(t, rev)
	out := logs.String()[mark:]
	count := func(level, msg string) int {
		n := 0
		for line := range strings.Lines(out) {
			if strings.Contains(line, `"level":"`+level+`"`) && strings.Contains(line, msg) {
				n++
			}
		}
		return n
	}
	if got := count("warn", "etcd unreachable"); got != 1 {
		t.Errorf("warn lines for the outage = %d, want 1:\n%s", got, out)
	}
	if got := count("info", "etcd reachable again"); got != 1 {
		t.Errorf("info lines for the recovery = %d, want 1:\n%s", got, out)
	}
}
