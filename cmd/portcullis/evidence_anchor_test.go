package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/evidence"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestEvidencePackChecksPublishedHead: the collector published its head
// to a real etcd (<prefix>/audit/head) and to a file; the data directory
// is then restored from a copy made before a key revocation. evidence
// pack --etcd reads the head published there, as audit verify --etcd
// does, and the pack's integrity proof FAILS naming it; so do
// --published-head and --expect-head. The pack is still written (exit
// 0) with a warning. Under a prefix where no head is published, the proof
// says rollback was not checked (and the command warns); the store the
// published head names is OK.
func TestEvidencePackChecksPublishedHead(t *testing.T) {
	t.Parallel()
	const prefix, bare = "/anchored", "/unanchored"
	endpoints, cli, ctx := etcdWithPolicy(t, prefix, bare)
	admin := etcdadmin.New(cli, prefix)

	tmp := t.TempDir()
	keyPath, data := filepath.Join(tmp, "collector.key"), filepath.Join(tmp, "data")
	headFile := filepath.Join(tmp, "anchor", "published-head.json")
	os.MkdirAll(filepath.Dir(headFile), 0o700)
	if err := collector.GenerateKey(keyPath); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	evidenceStore(t, data, keyPath, now)
	backup, current := filepath.Join(tmp, "backup"), filepath.Join(tmp, "current")
	copyTree(t, data, backup)

	key, err := collector.LoadPrivateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents([]collector.Event{{Time: now, Key: prefix + "/events/1", Revision: 41, Actor: "alice",
		Action: etcdadmin.ActionKeyRevoke, Target: "acmehris1", Reason: "leaked", Ticket: "SEC-9"}}); err != nil {
		t.Fatal(err)
	}
	head, err := st.SignHead(now)
	if err != nil {
		t.Fatal(err)
	}
	// Published as the collector publishes it: to etcd and --publish-head.
	if err := collector.PublishHead(ctx, head, 10*time.Second, []collector.HeadPublisher{admin, collector.FileAnchor(headFile)}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	pub, _ := collector.LoadPublicKey(keyPath + ".pub")
	published, err := collector.OpenHead(head, pub)
	if err != nil {
		t.Fatal(err)
	}
	copyTree(t, data, current)
	os.RemoveAll(data)
	copyTree(t, backup, data) // the rollback

	from, to := now.AddDate(0, 0, -1).Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly)
	period := from + "_" + to
	pack := func(t *testing.T, dir string, extra ...string) (proof, stderr string) {
		t.Helper()
		out := t.TempDir()
		args := append([]string{"--from", from, "--to", to, "--data", dir, "--out", out, "--signing-key", keyPath}, extra...)
		var o, e bytes.Buffer
		if code := evidencePack(args, &o, &e); code != 0 {
			t.Fatalf("evidence pack %q = exit %d, want 0 (the pack is written, its proof failed)\n%s%s", args, code, &o, &e)
		}
		b, err := os.ReadFile(filepath.Join(out, "evidence-"+period, evidence.FileName("APILogging", "RetentionSettings", period, "md")))
		if err != nil {
			t.Fatal(err)
		}
		return string(b), e.String()
	}
	failed := func(t *testing.T, proof, stderr string, wants ...string) {
		t.Helper()
		for _, want := range append([]string{"Result: FAILED (1 problems)", collector.ProblemRolledBack}, wants...) {
			if !strings.Contains(proof, want) {
				t.Errorf("integrity proof of the rolled-back store lacks %q:\n%s", want, proof)
			}
		}
		if !strings.Contains(stderr, "warning: the store's integrity proof FAILED (1 problems") {
			t.Errorf("evidence pack printed no warning for the failed proof: %q", stderr)
		}
	}
	seq := fmt.Sprintf("(seq %d)", published.Seq)
	etcdHead := "etcd " + prefix + "/audit/head " + seq

	t.Run("etcd", func(t *testing.T) {
		proof, stderr := pack(t, data, "--etcd", endpoints, "--prefix", prefix)
		failed(t, proof, stderr, fmt.Sprintf("- published head: seq %d, chain hash %s", published.Seq, published.Hash), "read from "+etcdHead)
	})
	t.Run("published head file", func(t *testing.T) {
		proof, stderr := pack(t, data, "--policy", examplePolicy, "--published-head", headFile)
		failed(t, proof, stderr, "read from --published-head "+headFile+" "+seq)
	})
	t.Run("expected head", func(t *testing.T) {
		proof, stderr := pack(t, data, "--policy", examplePolicy, "--expect-head", published.Hash)
		failed(t, proof, stderr, "- head kept earlier (`--expect-head`): chain hash "+published.Hash)
	})
	t.Run("etcd without a published head", func(t *testing.T) {
		proof, stderr := pack(t, data, "--etcd", endpoints, "--prefix", bare)
		for _, want := range []string{"Not found: etcd holds no head at " + bare + "/audit/head", "Rollback: NOT CHECKED",
			"Result: INTACT, ROLLBACK NOT CHECKED (no published head)"} {
			if !strings.Contains(proof, want) {
				t.Errorf("integrity proof lacks %q:\n%s", want, proof)
			}
		}
		if !strings.Contains(stderr, "warning: published head not found: etcd holds no head at "+bare+"/audit/head") {
			t.Errorf("evidence pack did not warn that no head is published in etcd: %q", stderr)
		}
	})
	t.Run("intact store", func(t *testing.T) {
		proof, stderr := pack(t, current, "--etcd", endpoints, "--prefix", prefix, "--published-head", headFile)
		if !strings.Contains(proof, "Result: OK\n") || !strings.Contains(proof, etcdHead) || strings.Contains(stderr, "proof FAILED") {
			t.Errorf("the store the published head names: proof not OK or a warning %q:\n%s", stderr, proof)
		}
	})
}

// etcdWithPolicy starts a real etcd, pushes the example policy under each
// prefix as alice, and returns its endpoints, a client and a context of
// 30 s, all closed with the test.
func etcdWithPolicy(t *testing.T, prefixes ...string) (string, *clientv3.Client, context.Context) {
	t.Helper()
	e := startEtcd(t)
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prefixes {
		if _, err := etcdadmin.New(cli, p).PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "alice", Ticket: "CHG-1"}); err != nil {
			t.Fatal(err)
		}
	}
	return strings.Join(e.Endpoints(), ","), cli, ctx
}
