package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/evidence"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestPackChecksEveryHeadEtcdKept: the collector published head A, then
// head B, to a real etcd. The data directory is restored from a copy
// made at A and, with the operator's etcd role, head A (which etcd's
// history keeps) is put back at <prefix>/audit/head: both rolled back
// together. The pack read only the head there now, A, which the store
// holds, and its proof said OK; every head etcd's history still holds
// that opens with the collector's key is read now, and the store must
// hold B too: FAILED, rolled back.
func TestPackChecksEveryHeadEtcdKept(t *testing.T) {
	t.Parallel()
	const prefix = "/anchored"
	endpoints, cli, ctx := etcdWithPolicy(t, prefix)
	admin := etcdadmin.New(cli, prefix)
	tmp := t.TempDir()
	keyPath, data, backup := filepath.Join(tmp, "collector.key"), filepath.Join(tmp, "data"), filepath.Join(tmp, "backup")
	if err := collector.GenerateKey(keyPath); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	evidenceStore(t, data, keyPath, now)
	key, err := collector.LoadPrivateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(at time.Time, ev *collector.Event) []byte {
		t.Helper()
		st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if ev != nil {
			if err := st.AppendEvents([]collector.Event{*ev}); err != nil {
				t.Fatal(err)
			}
		}
		head, err := st.SignHead(at)
		if err != nil {
			t.Fatal(err)
		}
		if err := collector.PublishHead(ctx, head, 10*time.Second, []collector.HeadPublisher{admin}); err != nil {
			t.Fatal(err)
		}
		return head
	}
	headA := publish(now, nil)
	copyTree(t, data, backup)
	publish(now.Add(time.Minute), &collector.Event{Time: now, Key: prefix + "/events/1", Revision: 41, Actor: "alice",
		Action: etcdadmin.ActionKeyRevoke, Target: "acmehris1", Reason: "leaked", Ticket: "SEC-9"})

	os.RemoveAll(data)
	copyTree(t, backup, data) // the store rolled back to A
	if _, err := cli.Put(ctx, etcdsync.NewLayout(prefix).AuditHead(), string(headA)); err != nil {
		t.Fatal(err) // and the anchor, by hand
	}

	from, to := now.AddDate(0, 0, -1).Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly)
	period := from + "_" + to
	out := t.TempDir()
	var o, se bytes.Buffer
	args := []string{"--from", from, "--to", to, "--data", data, "--out", out, "--signing-key", keyPath, "--etcd", endpoints, "--prefix", prefix}
	if code := evidencePack(args, &o, &se); code != 0 {
		t.Fatalf("evidence pack = exit %d, want 0\n%s%s", code, &o, &se)
	}
	b, err := os.ReadFile(filepath.Join(out, "evidence-"+period, evidence.FileName("APILogging", "RetentionSettings", period, "md")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Result: FAILED", collector.ProblemRolledBack} {
		if !strings.Contains(string(b), want) {
			t.Errorf("integrity proof of a store rolled back with its etcd anchor lacks %q:\n%s", want, b)
		}
	}
}
