package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// review54 found PortcullisPolicyRevisionBehind (critical) paging for
// healthy pods: portcullis_policy_revision is the etcd revision a pod
// last read or changed its state at, and every write to etcd counts, so a
// sidecar started after writes that changed nothing it enforces showed a
// higher revision for the same state, and its older peers read as
// behind. portcullis_policy_digest tells the state itself: two real
// sidecars on a real etcd, the second started after unrelated writes,
// show different revisions and one digest, and one digest again after a
// revocation reaches both. The rule compares the digests
// (deploy/observability/rules_test.yml holds the PromQL).
func TestPolicyDigestAgreesAcrossRevisions(t *testing.T) {
	t.Parallel()
	const prefix = "/digest-agree"
	emb, cli := etcdClient(t)
	admin := etcdadmin.New(cli, prefix)
	raw, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	meta := etcdadmin.Meta{Actor: "e2e", Reason: "test", Ticket: "CHG-54"}
	if _, err := admin.PushPolicy(ctx, raw, 0, meta); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	start := func(name string) string {
		adminAddr := freeAddrTB(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := sidecar(runCtx, sidecarFlags{listen: freeAddrTB(t), upstream: "127.0.0.1:1", admin: adminAddr,
				auditFile: filepath.Join(data, name+".jsonl"), spoolDir: filepath.Join(data, name, "spool"), stateDir: filepath.Join(data, name, "state"),
				etcd: etcdConnFlags{endpoints: strings.Join(emb.Endpoints(), ","), prefix: prefix}, pod: name, drain: time.Second}, zerolog.Nop())
			if err != nil {
				t.Errorf("sidecar %s: %v", name, err)
			}
		}()
		poll(t, name+" serving its metrics with a policy", func() bool {
			resp, err := http.Get("http://" + adminAddr + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200 && value(scrapeFamilies(t, adminAddr), "portcullis_policy_digest") > 0
		})
		return adminAddr
	}
	a := start("pod-a")
	for i := range 5 { // writes elsewhere in etcd: nothing a sidecar enforces
		if _, err := cli.Put(ctx, "/elsewhere/"+string(rune('a'+i)), "x"); err != nil {
			t.Fatal(err)
		}
	}
	b := start("pod-b")
	read := func(addr string) (rev, digest float64) {
		f := scrapeFamilies(t, addr)
		// Labelled with the prefix, so the alert compares only the pods
		// of one prefix (rules_test.yml: pod d on /reports).
		return value(f, "portcullis_policy_revision", "etcd_prefix", prefix), value(f, "portcullis_policy_digest", "etcd_prefix", prefix)
	}
	revA, digA := read(a)
	revB, digB := read(b)
	if revA < 0 || revB < 0 {
		t.Fatalf("portcullis_policy_revision{etcd_prefix=%q}: pod-a %v, pod-b %v; want both served with the label", prefix, revA, revB)
	}
	if revA == revB {
		t.Fatalf("both pods at revision %v: the unrelated writes did not move pod-b's, the test shows nothing", revA)
	}
	if digA != digB {
		t.Errorf("one state in etcd: pod-a (revision %v) digest %v, pod-b (revision %v) digest %v; want one digest", revA, digA, revB, digB)
	}
	if _, err := admin.RevokeKey(ctx, "acmehris1", meta); err != nil {
		t.Fatal(err)
	}
	poll(t, "both pods on the state after the revocation, with one digest", func() bool {
		_, da := read(a)
		_, db := read(b)
		return da != digA && da == db
	})
}
