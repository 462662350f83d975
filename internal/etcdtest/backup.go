package etcdtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/portcullis/portcullis/internal/devetcd"
)

// Backup takes a backup of etcd e, whose data directory is dir, as a
// volume snapshot would: it stops e, copies dir aside (cp -a, keeping
// etcd's 0700) and starts e again. It returns the copy's path, for
// PutBack.
func Backup(t testing.TB, e *devetcd.Server, dir string) string {
	t.Helper()
	e.Stop()
	backup := filepath.Join(t.TempDir(), "backup")
	if out, err := exec.Command("cp", "-a", dir, backup).CombinedOutput(); err != nil {
		t.Fatalf("backing up %s: %v %s", dir, err, out)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	return backup
}

// PutBack replaces the data directory dir by the backup Backup took, as
// restoring it would; the etcd of dir must be stopped, and is started
// by the caller.
func PutBack(t testing.TB, backup, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", backup, dir).CombinedOutput(); err != nil {
		t.Fatalf("restoring %s: %v %s", dir, err, out)
	}
}
