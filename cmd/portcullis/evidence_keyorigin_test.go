package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// A key record put into etcd by hand (one etcdctl put of the operator
// role: no key.create event, no approval) authenticates at every sidecar,
// and the evidence pack made with --etcd named it nowhere when it served
// no request in the period. The pack now reads the key records in etcd
// and names each that no event of the trail made.
func TestEvidencePackNamesAKeyPutIntoEtcdByHand(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	const prefix = "/evidence-keyorigin-test"
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := etcdadmin.New(cli, prefix).PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "alice", Ticket: "CHG-1"}); err != nil {
		t.Fatal(err)
	}
	record := `{"id":"handput1","client":"acme-hris","sha256":"` + strings.Repeat("ab", 32) + `","created_at":"2026-01-01T00:00:00Z"}`
	if _, err := cli.Put(ctx, etcdsync.NewLayout(prefix).Key("handput1"), record); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	keyPath, data, out := filepath.Join(tmp, "collector.key"), filepath.Join(tmp, "data"), filepath.Join(tmp, "out")
	if err := collector.GenerateKey(keyPath); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	evidenceStore(t, data, keyPath, now)
	from, to := now.AddDate(0, 0, -1).Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly)
	var stdout, stderr bytes.Buffer
	args := []string{"--from", from, "--to", to, "--data", data, "--out", out, "--etcd", strings.Join(e.Endpoints(), ","),
		"--prefix", prefix, "--signing-key", keyPath, "--retention", "400d"}
	if code := evidencePack(args, &stdout, &stderr); code != 0 {
		t.Fatalf("evidence pack = exit %d\n%s%s", code, &stdout, &stderr)
	}
	period := from + "_" + to
	md, err := os.ReadFile(filepath.Join(out, "evidence-"+period, "APIGovernance-ISO27017Checklist-"+period+".md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `"handput1" (a key record in etcd)`; !strings.Contains(string(md), want) {
		t.Errorf("checklist lacks %q:\n%s", want, md)
	}
}
