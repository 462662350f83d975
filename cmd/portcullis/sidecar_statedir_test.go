package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// etcd mode with a --state-dir that cannot be created (a read-only root
// filesystem and the default relative "portcullis-state", a file in the
// way): the policy sync stopped at once with one error line, while the
// sidecar went on "serving", answering 503 for ever with /readyz blaming
// etcd ("etcd not read"), even with etcd up. Now the sidecar does not
// start: it exits naming the directory.
func TestSidecarRefusesUnusableStateDir(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	e, _ := etcdClient(t)
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f := sidecarFlags{etcd: etcdConnFlags{endpoints: strings.Join(e.Endpoints(), ","), prefix: "/statedir-test"},
		stateDir: filepath.Join(blocker, "state"), upstream: freeAddr(t), listen: freeAddr(t), admin: freeAddr(t), drain: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sidecar(ctx, f, zerolog.Nop()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), f.stateDir) {
			t.Errorf("sidecar returned %v, want an error naming %s", err, f.stateDir)
		}
	case <-time.After(30 * time.Second):
		cancel()
		<-done
		t.Fatal("the sidecar kept running without a usable --state-dir (its policy sync had stopped)")
	}
}
