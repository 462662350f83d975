package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCopiedCollectorOnOnePrefixIsRefusedVisibly: a collector and a copy
// of it (its store and key, started elsewhere) publish to one etcd prefix.
// Each checked the head there only at start, where both stores held it,
// and then each overwrote the other's head; once their chains forked, the
// anchor of one was gone without a word. Now each publication replaces
// only the head its collector last wrote or read: the first of the two to
// find the other's head there stops publishing, logs an error naming the
// key, and its /healthz says degraded while it keeps serving; the other
// keeps publishing.
func TestCopiedCollectorOnOnePrefixIsRefusedVisibly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	e, cli := etcdClient(t)
	keyFile, tokenFile := h.collectorFiles("headcas-collector-token-0123456789abcdef")
	const key = "/headcas/audit/head"
	run := func(name, data string) (metrics string) {
		metrics = freeAddr(t)
		h.start(name, "collector", "--listen", freeAddr(t), "--data", data, "--signing-key", keyFile, "--token-file", tokenFile,
			"--etcd", e.Endpoints()[0], "--prefix", "/headcas", "--sign-every", "100ms", "--metrics-listen", metrics)
		h.serving(name+" serving", "http://"+metrics+"/healthz")
		return metrics
	}
	headRev := func() int64 {
		resp, err := cli.Get(context.Background(), key)
		if err != nil || len(resp.Kvs) == 0 {
			return 0
		}
		return resp.Kvs[0].ModRevision
	}

	dataA := filepath.Join(h.dir, "a")
	first := h.start("first", "collector", "--listen", freeAddr(t), "--data", dataA, "--signing-key", keyFile, "--token-file", tokenFile,
		"--etcd", e.Endpoints()[0], "--prefix", "/headcas", "--sign-every", "100ms")
	h.until("a head published", func() (bool, string) { return headRev() > 0, "" })
	if err := first.signal(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	dataB := filepath.Join(h.dir, "b")
	if err := os.CopyFS(dataB, os.DirFS(dataA)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dataB, "store.lock"))
	metrics := map[string]string{"a": run("a", dataA), "b": run("b", dataB)}

	var loser string
	h.until("one of the two refusing to publish over the other's head", func() (bool, string) {
		for name, addr := range metrics {
			resp, err := h.http.Get("http://" + addr + "/healthz")
			if err != nil {
				continue
			}
			b := make([]byte, 4096)
			n, _ := resp.Body.Read(b)
			resp.Body.Close()
			if strings.Contains(string(b[:n]), `"status":"degraded"`) {
				loser = name
				return true, string(b[:n])
			}
		}
		return false, "both ok"
	})
	winner := map[string]string{"a": "b", "b": "a"}[loser]
	log, _ := os.ReadFile(filepath.Join(h.dir, loser+".log"))
	for _, want := range []string{`"level":"error"`, "another collector publishes its head to the same anchor", "etcd key " + key} {
		if !strings.Contains(string(log), want) {
			t.Errorf("%s's log does not say %q", loser, want)
		}
	}
	if m := h.metrics(metrics[loser]); m["portcullis_collector_head_conflicts_total"] == 0 || m["portcullis_collector_anchors_withheld"] != 1 {
		t.Errorf("%s's metrics: conflicts %d, anchors withheld %d; want some and 1", loser, m["portcullis_collector_head_conflicts_total"], m["portcullis_collector_anchors_withheld"])
	}
	rev := headRev()
	h.until(winner+" still publishing", func() (bool, string) { return headRev() > rev+3, "" })
	if m := h.metrics(metrics[winner]); m["portcullis_collector_head_conflicts_total"] != 0 || m["portcullis_collector_anchors_withheld"] != 0 {
		t.Errorf("%s's metrics: conflicts %d, anchors withheld %d; want 0 and 0", winner, m["portcullis_collector_head_conflicts_total"], m["portcullis_collector_anchors_withheld"])
	}
}
