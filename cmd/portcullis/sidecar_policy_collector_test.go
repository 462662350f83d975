package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// In etcd mode the policy arrives after the sidecar opened its audit sink,
// so the collector the policy names (audit.collector, "the default when the
// policy names audit.collector") was never used: with no --collector the
// sidecar served and dropped every record. Now, with neither --collector
// nor --audit-file, the sidecar opens the emitter once the policy in force
// names a collector, and the records reach it.
func TestSidecarUsesPolicyCollectorInEtcdMode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	e, cli := etcdClient(t)
	const prefix = "/policy-collector"
	dir, intake, tokenFile := startIntake(t, "policy-collector-token-0123456789abcdef")
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	named := strings.Replace(string(doc), "audit:\n  mode: best_effort\n", "audit:\n  mode: best_effort\n  collector: "+intake.URL+"\n", 1)
	if named == string(doc) {
		t.Fatal("the example policy's audit section changed")
	}
	if _, err := etcdadmin.New(cli, prefix).PushPolicy(context.Background(), []byte(named), 0, etcdadmin.Meta{Actor: "test", Reason: "collector", Ticket: "T-1"}); err != nil {
		t.Fatal(err)
	}
	f := runInProcess(t, sidecarFlags{etcd: etcdConnFlags{endpoints: strings.Join(e.Endpoints(), ","), prefix: prefix},
		stateDir: t.TempDir(), pod: "collector-pod", tokenFile: tokenFile, spoolDir: t.TempDir()})
	pollUntil(t, obsWait, "a record of the sidecar stored by the collector the policy names", func() (bool, string) {
		get(t, "http://"+f.listen+"/v1/users", hrisKey)
		n := 0
		collector.QueryRecords(dir, collector.Filter{}, func(*collector.StoredRecord) error { n++; return nil })
		fams := scrapeFamilies(t, f.admin)
		return n > 0, "stored " + ftoa(float64(n)) + ", dropped " + ftoa(value(fams, "portcullis_audit_dropped_total"))
	})
}

// startIntake runs a collector in process, over httptest, whose store is
// in dir and which takes token (written to tokenFile for a sidecar's
// --collector-token-file); both go at the end of the test.
func startIntake(t *testing.T, token string) (dir string, intake *httptest.Server, tokenFile string) {
	t.Helper()
	dir = t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	col, err := collector.New(st, collector.Config{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	intake = httptest.NewServer(col)
	t.Cleanup(func() { intake.Close(); st.Close() })
	tokenFile = filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, intake, tokenFile
}

// A sidecar run without --pod or $POD_NAME kept its member record in
// etcd under the hostname, while its audit records named no pod: the
// evidence pack matches a member's batches by the pod they name, so that
// sidecar's batches were never its member's, and its silence was never
// checked. Now the hostname is the name of both.
func TestSidecarWithoutPodNameNamesItsMember(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	t.Setenv("POD_NAME", "")
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skipf("no hostname (%v): the sidecar refuses to run in etcd mode", err)
	}
	e, cli := etcdClient(t)
	const prefix = "/unnamed-pod"
	dir, intake, tokenFile := startIntake(t, "unnamed-pod-token-0123456789abcdef0123")
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcdadmin.New(cli, prefix).PushPolicy(context.Background(), doc, 0, etcdadmin.Meta{Actor: "test", Reason: "unnamed", Ticket: "T-1"}); err != nil {
		t.Fatal(err)
	}
	f := runInProcess(t, sidecarFlags{etcd: etcdConnFlags{endpoints: strings.Join(e.Endpoints(), ","), prefix: prefix},
		stateDir: t.TempDir(), collector: intake.URL, tokenFile: tokenFile, spoolDir: t.TempDir()})
	var pods []string
	pollUntil(t, obsWait, "a record of the sidecar stored", func() (bool, string) {
		get(t, "http://"+f.listen+"/v1/users", hrisKey)
		pods = nil
		collector.QueryRecords(dir, collector.Filter{}, func(r *collector.StoredRecord) error { pods = append(pods, r.Pod); return nil })
		return len(pods) > 0, "none stored yet"
	})
	var members []string
	pollUntil(t, obsWait, "the sidecar's member record", func() (bool, string) {
		resp, err := cli.Get(context.Background(), etcdsync.NewLayout(prefix).MembersDir(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			t.Fatal(err)
		}
		members = nil
		for _, kv := range resp.Kvs {
			members = append(members, strings.TrimPrefix(string(kv.Key), etcdsync.NewLayout(prefix).MembersDir()))
		}
		return len(members) > 0, "no member record yet"
	})
	if len(members) != 1 || members[0] != host || pods[0] != host {
		t.Errorf("member records %q, records naming pod %q; want both the hostname %q", members, pods[0], host)
	}
}
