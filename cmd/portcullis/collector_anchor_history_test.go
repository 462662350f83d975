package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestCollectorRefusesStoreRolledBackWithHeadPutBack runs the collector
// binary against a real etcd (in process): it published heads at seq 5,
// then at seq 10. The data directory is restored from the copy made at
// seq 5 and the last seq 5 head (which etcd's history keeps) is put back
// at <prefix>/audit/head and in the --publish-head file: store and
// anchors agree. The collector started on it and went on appending,
// forking the chain; it reads etcd's history now, as audit verify does,
// and does not start, naming the seq 10 head and its revision;
// --accept-rollback records that head in the break.
func TestCollectorRefusesStoreRolledBackWithHeadPutBack(t *testing.T) {
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
	keyFile, tokenFile := h.collectorFiles("history-test-collector-token-0123456789abcdef")
	data, backup := filepath.Join(h.dir, "data"), filepath.Join(h.dir, "backup")
	published := filepath.Join(t.TempDir(), "published-head.json")
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	admin := etcdadmin.New(cli, "/history")
	pub, err := collector.LoadPublicKey(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	headIn := func() *collector.PublishedHead {
		doc, err := admin.AuditHead(context.Background())
		if err != nil {
			return nil
		}
		ph, err := collector.OpenHead(doc, pub)
		if err != nil {
			t.Fatalf("head in etcd: %v", err)
		}
		return ph
	}
	startCol := func(name string, extra ...string) *proc {
		args := append([]string{"collector", "--listen", freeAddr(t), "--data", data, "--signing-key", keyFile,
			"--token-file", tokenFile, "--etcd", endpoints, "--prefix", "/history", "--publish-head", published,
			"--sign-every", "100ms"}, extra...)
		return h.start(name, args...)
	}
	runTo := func(name string, seq uint64) {
		p := startCol(name)
		h.until(fmt.Sprintf("a head at seq %d published", seq), func() (bool, string) {
			ph := headIn()
			return ph != nil && ph.Seq == seq, fmt.Sprintf("%+v", ph)
		})
		p.signal(t, syscall.SIGTERM)
	}

	appendToStore(t, data, keyFile, 0, 5)
	runTo("collector-1", 5)
	copyTree(t, data, backup)
	appendToStore(t, data, keyFile, 5, 5)
	runTo("collector-2", 10)

	puts, err := admin.PublishedHeads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var older []byte
	var newer *collector.PublishedHead
	var newerRev int64
	for _, p := range puts {
		ph, err := collector.OpenHead(p.Doc, pub)
		switch {
		case err != nil:
			t.Fatalf("head at revision %d: %v", p.Revision, err)
		case ph.Seq == 5:
			older = p.Doc
		case newer == nil || ph.Seq > newer.Seq: // the first put of the newest seq, as the check names it
			newer, newerRev = ph, p.Revision
		}
	}
	if older == nil || newer == nil || newer.Seq != 10 {
		t.Fatalf("etcd's history of the head: seq 5 %t, newest %+v", older != nil, newer)
	}
	// The rollback: the copy restored, its head put back at both anchors.
	os.RemoveAll(data)
	copyTree(t, backup, data)
	if _, err := cli.Put(context.Background(), "/history/audit/head", string(older)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(published, older, 0o600); err != nil {
		t.Fatal(err)
	}

	refused := startCol("collector-3")
	select {
	case <-refused.done:
	case <-time.After(killWait):
		t.Fatal("the collector started on a store rolled back with its head put back in etcd")
	}
	log3, _ := os.ReadFile(filepath.Join(h.dir, "collector-3.log"))
	for _, want := range []string{"names seq 10", newer.Hash[:16], fmt.Sprintf("at revision %d", newerRev), "chain ends at seq 5", "behind its anchor", "--accept-rollback"} {
		if refused.err == nil || !strings.Contains(string(log3), want) {
			t.Errorf("collector on the rolled-back store: exit %v, log does not say %q:\n%s", refused.err, want, log3)
		}
	}
	if ph := headIn(); ph == nil || ph.Seq != 5 {
		t.Errorf("head in etcd after the refused start: %+v, want the seq 5 put back", ph)
	}

	accepted := startCol("collector-4", "--accept-rollback")
	h.until("the anchors moved on to the restored store", func() (bool, string) {
		ph := headIn()
		b, _ := os.ReadFile(published)
		return ph != nil && ph.Seq == 6 && strings.Contains(string(b), `"seq":6`), fmt.Sprintf("%+v", ph)
	})
	accepted.signal(t, syscall.SIGTERM)
	b, _ := exec.Command(h.bin, "audit", "verify", "--data", data, "--public-key", keyFile+".pub", "--etcd", endpoints, "--prefix", "/history").CombinedOutput()
	out := string(b)
	for _, want := range []string{collector.ProblemRecordedBreak, "rollback accepted", "names seq 10", newer.Hash[:16]} {
		if !strings.Contains(out, want) {
			t.Errorf("verify after --accept-rollback does not say %q:\n%s", want, out)
		}
	}
}
