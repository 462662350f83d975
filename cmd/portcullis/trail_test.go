package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// appendToStore stores n batches in the store in dir, as a collector
// would, and closes it.
func appendToStore(t *testing.T, dir, keyFile string, from, n int) {
	t.Helper()
	key, err := collector.LoadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key, SegmentMaxBytes: 2000})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := from; i < from+n; i++ {
		rec := collector.StoredRecord{Time: time.Now().UTC(), Tenant: "acme", Route: "/v1/things", Status: 200, Decision: "allowed"}
		if err := st.AppendBatch(&collector.Batch{ID: "trail-" + strconv.Itoa(i), Records: []collector.StoredRecord{rec}}); err != nil {
			t.Fatal(err)
		}
	}
}

// copyTree copies the regular files of src into dst (a backup of a store).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCollectorPublishesHeadAndVerifyFindsRollback runs the collector
// binary against a real etcd (in process): it signs and publishes its head
// on a timer while idle; an older copy of the data directory restored in
// place verifies as intact on its own, and fails against the head in etcd,
// the --publish-head file and a head the operator kept (issue 21, item 3;
// issue 13, item 10).
func TestCollectorPublishesHeadAndVerifyFindsRollback(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	e, err := devetcd.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	endpoints := strings.Join(e.Endpoints(), ",")
	keyFile, tokenFile := h.collectorFiles("trail-test-collector-token-0123456789abcdef")
	data, backup := filepath.Join(h.dir, "data"), filepath.Join(h.dir, "backup")
	published := filepath.Join(t.TempDir(), "published-head.json")
	verify := func(want int, extra ...string) string {
		t.Helper()
		args := append([]string{"audit", "verify", "--data", data, "--public-key", keyFile + ".pub"}, extra...)
		out, err := exec.Command(h.bin, args...).CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		}
		if code != want {
			t.Fatalf("portcullis %s = exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
		}
		return string(out)
	}

	appendToStore(t, data, keyFile, 0, 5)
	copyTree(t, data, backup) // the attacker's older copy
	appendToStore(t, data, keyFile, 5, 5)
	out := verify(0)
	kept := strings.Fields(out[strings.Index(out, "hash ")+5:])[0]

	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	admin := etcdadmin.New(cli, "/trail")
	startCol := func(name string) *proc {
		return h.start(name, "collector", "--listen", freeAddr(t), "--data", data, "--signing-key", keyFile,
			"--token-file", tokenFile, "--etcd", endpoints, "--prefix", "/trail", "--publish-head", published,
			"--sign-every", "100ms")
	}
	headIn := func() *collector.PublishedHead {
		doc, err := admin.AuditHead(context.Background())
		if err != nil {
			return nil
		}
		pub, _ := collector.LoadPublicKey(keyFile + ".pub")
		ph, err := collector.OpenHead(doc, pub)
		if err != nil {
			t.Fatalf("head in etcd: %v", err)
		}
		return ph
	}
	first := startCol("collector-1")
	var seen []time.Time
	h.until("three heads signed while idle", func() (bool, string) {
		if ph := headIn(); ph != nil && ph.Seq == 10 && (len(seen) == 0 || ph.Time.After(seen[len(seen)-1])) {
			seen = append(seen, ph.Time)
		}
		return len(seen) >= 3, strconv.Itoa(len(seen)) + " heads"
	})
	first.signal(t, syscall.SIGTERM)

	// The rollback: the older copy restored in place.
	os.RemoveAll(data)
	copyTree(t, backup, data)
	verify(0) // on its own the older copy is whole
	anchors := [][]string{
		{"--etcd", endpoints, "--prefix", "/trail"},
		{"--published-head", published},
		{"--expect-head", kept},
	}
	for _, a := range anchors {
		if out := verify(1, a...); !strings.Contains(out, collector.ProblemRolledBack) {
			t.Errorf("verify %v: %s, want %q", a, out, collector.ProblemRolledBack)
		}
	}

	// A collector restarted on the older copy does not start: its store
	// does not hold the published head, and it says how to inspect it.
	second := startCol("collector-2")
	select {
	case <-second.done:
	case <-time.After(killWait):
		t.Fatal("the collector started on a store behind its anchors")
	}
	log2, _ := os.ReadFile(filepath.Join(h.dir, "collector-2.log"))
	for _, want := range []string{"names seq 10", "chain ends at seq 5", "behind its anchor", "portcullis audit verify --data " + data, "--etcd " + endpoints, "--accept-rollback"} {
		if second.err == nil || !strings.Contains(string(log2), want) {
			t.Errorf("collector on the older copy: exit %v, log does not say %q:\n%s", second.err, want, log2)
		}
	}
	if ph := headIn(); ph == nil || ph.Seq != 10 {
		t.Errorf("head in etcd after the restart on the older copy: %+v, want seq 10", ph)
	}
	verify(1, anchors[0]...)
	verify(1, anchors[1]...)

	// The operator restored the copy on purpose: --accept-rollback records
	// the rollback in the chain (verify keeps failing for this store, with
	// a recorded break and no longer a rollback) and moves the anchors on;
	// etcd keeps the head replaced in the key's history.
	before, err := cli.Get(context.Background(), "/trail/audit/head")
	if err != nil || len(before.Kvs) != 1 {
		t.Fatalf("head key: %v %v", before, err)
	}
	third := h.start("collector-3", "collector", "--listen", freeAddr(t), "--data", data, "--signing-key", keyFile,
		"--token-file", tokenFile, "--etcd", endpoints, "--prefix", "/trail", "--publish-head", published,
		"--sign-every", "100ms", "--accept-rollback")
	h.until("the anchors moved on to the restored store", func() (bool, string) {
		ph := headIn()
		b, _ := os.ReadFile(published)
		return ph != nil && ph.Seq == 6 && strings.Contains(string(b), `"seq":6`), fmt.Sprintf("%+v", ph)
	})
	third.signal(t, syscall.SIGTERM)
	for _, a := range anchors[:2] {
		out := verify(1, a...)
		if !strings.Contains(out, collector.ProblemRecordedBreak) || !strings.Contains(out, "rollback accepted") || strings.Contains(out, ": "+collector.ProblemRolledBack+": ") {
			t.Errorf("verify %v after --accept-rollback: %s, want the recorded rollback only", a, out)
		}
	}
	old, err := cli.Get(context.Background(), "/trail/audit/head", clientv3.WithRev(before.Kvs[0].ModRevision))
	if err != nil || len(old.Kvs) != 1 || !strings.Contains(string(old.Kvs[0].Value), `"seq":10`) {
		t.Errorf("etcd's history of the head key lost the head replaced: %v %v", old, err)
	}

	// Every segment and the head deleted: an error or, with only the
	// marker left, an empty store that fails and still misses the anchor.
	for _, name := range mustGlob(t, filepath.Join(data, "*")) {
		if filepath.Base(name) != "store.id" {
			os.Remove(name)
		}
	}
	if out := verify(1); !strings.Contains(out, "empty store") {
		t.Errorf("verify of an emptied store: %s", out)
	}
	verify(1, "--allow-empty", "--expect-head", kept)
	os.Remove(filepath.Join(data, "store.id"))
	if out := verify(1, "--allow-empty"); !strings.Contains(out, "no audit store") {
		t.Errorf("verify of a directory with no store: %s", out)
	}
	if out, err := exec.Command(h.bin, "audit", "query", "--data", data).CombinedOutput(); err == nil || !strings.Contains(string(out), "no audit store") {
		t.Errorf("query of a directory with no store: %v %s", err, out)
	}
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// forgeTail appends to the newest segment in dir a correctly hashed entry
// that no collector wrote (it needs no key).
func forgeTail(t *testing.T, dir string) {
	t.Helper()
	segs := mustGlob(t, filepath.Join(dir, "seg-*.log"))
	path := segs[len(segs)-1]
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var last struct {
		Hash string `json:"hash"`
		Body struct {
			Seq uint64 `json:"seq"`
		} `json:"body"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	prev, _ := hex.DecodeString(last.Hash)
	body := fmt.Sprintf(`{"seq":%d,"kind":"batch","time":%q,"batch_id":"forged","records":[{"time":%q,"tenant":"forged"}]}`,
		last.Body.Seq+1, time.Now().UTC().Format(time.RFC3339Nano), time.Now().UTC().Format(time.RFC3339Nano))
	sum := sha256.Sum256(append(prev, body...))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, `{"prev":%q,"hash":%q,"body":%s}`+"\n", last.Hash, hex.EncodeToString(sum[:]), body)
}

// TestAuditVerifyCommandFindsTampering runs `portcullis audit verify` on a
// store after each attack of issue 21 items 1 and 4.
func TestAuditVerifyCommandFindsTampering(t *testing.T) {
	keyFile, key := signingKeyFile(t)
	newStore := func() string {
		dir := t.TempDir()
		appendToStore(t, dir, keyFile, 0, 8)
		// A live collector's newest segment is open (not yet sealed by a
		// digest): the store is left as a running collector leaves it.
		st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key})
		if err != nil {
			t.Fatal(err)
		}
		rec := collector.StoredRecord{Time: time.Now().UTC(), Tenant: "acme"}
		if err := st.AppendBatch(&collector.Batch{ID: "live", Records: []collector.StoredRecord{rec}}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	forge := func(dir string) { forgeTail(t, dir) }
	newestSeg := func(dir string) string {
		segs := mustGlob(t, filepath.Join(dir, "seg-*.log"))
		return segs[len(segs)-1]
	}
	cases := []struct {
		name   string
		attack func(dir string)
		flags  []string
		want   int
	}{
		{"intact", func(string) {}, nil, 0},
		{"forged tail", forge, nil, 1},
		{"forged tail, young one allowed", forge, []string{"--allow-unsigned-tail", "1h"}, 0},
		{"symlink to /dev/zero", func(dir string) {
			p := newestSeg(dir)
			os.Remove(p)
			os.Symlink("/dev/zero", p)
		}, nil, 1},
		{"fifo", func(dir string) {
			p := newestSeg(dir)
			os.Remove(p)
			syscall.Mkfifo(p, 0o600)
		}, nil, 1},
	}
	for _, c := range cases {
		dir := newStore()
		c.attack(dir)
		args := append([]string{"--data", dir, "--public-key", keyFile + ".pub"}, c.flags...)
		if got := quiet(t, func() int { return auditVerify(args) }); got != c.want {
			t.Errorf("%s: audit verify = exit %d, want %d", c.name, got, c.want)
		}
	}
}
