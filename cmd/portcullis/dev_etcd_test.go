package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// The tests of this package run the dev stack's etcd in process: the test
// binary may link the etcd server, the portcullis binary may not.
// TestDevEtcdBinary runs the real portcullis-dev child instead, and a
// helper process with execEtcdEnv set runs --etcd-bin as portcullis does.
func init() {
	if os.Getenv(execEtcdEnv) != "1" {
		startDevEtcd = inProcessEtcd
	}
}

// execEtcdEnv makes a helper process (TestHelperPortcullis) start the dev
// stack's etcd as portcullis does: the --etcd-bin child, or portcullis-dev.
const execEtcdEnv = "PORTCULLIS_TEST_EXEC_ETCD"

func inProcessEtcd(_ context.Context, _, dir string) (*devEtcd, error) {
	srv, err := devetcd.Start(dir)
	if err != nil {
		return nil, err
	}
	return &devEtcd{endpoints: srv.Endpoints(), stop: srv.Close}, nil
}

// goTool returns the go command the tests build and list packages with.
func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go tool on PATH: %v", err)
	}
	return p
}

// The binary every sidecar runs does not link the etcd server: only
// portcullis-dev does (issue 19 item 2).
func TestSidecarLinksNoEtcdServer(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(goTool(t), "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	banned := []string{"go.etcd.io/etcd/server", "go.etcd.io/raft", "go.etcd.io/bbolt"}
	var got []string
	for _, pkg := range strings.Fields(string(out)) {
		for _, b := range banned {
			if pkg == b || strings.HasPrefix(pkg, b+"/") {
				got = append(got, pkg)
			}
		}
	}
	if len(got) > 0 {
		t.Errorf("cmd/portcullis links %d packages of the etcd server, want none (move their importer behind portcullis-dev): %s", len(got), strings.Join(got, " "))
	}
}

// portcullis dev runs etcd as a portcullis-dev child process: it reports
// its endpoints once etcd serves, the data outlives a stop, and stopping
// waits until etcd no longer answers.
func TestDevEtcdBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds portcullis-dev and starts etcd")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), devEtcdBinary)
	if out, err := exec.Command(goTool(t), "build", "-o", bin, "../portcullis-dev").CombinedOutput(); err != nil {
		t.Fatalf("go build portcullis-dev: %v\n%s", err, out)
	}
	dir := t.TempDir()
	first := runDevEtcd(t, bin, dir)
	etcdPut(t, first.endpoints, "/dev-test", "kept")
	first.stop()
	if _, err := etcdGet(t, first.endpoints, "/dev-test", time.Second); err == nil {
		t.Fatalf("etcd at %v still answers after stop", first.endpoints)
	}
	second := runDevEtcd(t, bin, dir)
	defer second.stop()
	got, err := etcdGet(t, second.endpoints, "/dev-test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got != "kept" {
		t.Errorf("after a restart on the same data, /dev-test = %q, want %q", got, "kept")
	}
}

func runDevEtcd(t *testing.T, bin, dir string) *devEtcd {
	t.Helper()
	e, err := execDevEtcd(context.Background(), bin, dir)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func etcdPut(t *testing.T, endpoints []string, key, value string) {
	t.Helper()
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: endpoints})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cli.Put(ctx, key, value); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

func etcdGet(t *testing.T, endpoints []string, key string, timeout time.Duration) (string, error) {
	t.Helper()
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: endpoints, DialTimeout: timeout})
	if err != nil {
		return "", err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// Without portcullis-dev beside the binary or in PATH, portcullis dev
// fails with one line naming the binary and how to build it.
func TestDevEtcdNotFound(t *testing.T) { // not parallel: it sets PATH
	t.Setenv("PATH", t.TempDir())
	_, err := execDevEtcd(context.Background(), "", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "make build") || !strings.Contains(err.Error(), "--etcd-bin") || strings.Contains(err.Error(), "\n") {
		t.Errorf("execDevEtcd without the binary = %v, want one line naming make build and --etcd-bin", err)
	}
}
