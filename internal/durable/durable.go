// Package durable writes files that survive a crash: a file is written to a
// temporary name, fsync'd, renamed over the target and its directory
// fsync'd, so a reader sees the old contents or the new, never a torn
// write. It is shared by the sidecar's spool (audit) and the collector's
// store, which both acknowledge data only once it is durable.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFile writes dir/name atomically and durably. The temporary file is
// opened without following a symlink planted at its name.
func WriteFile(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, ".tmp-"+name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("durable: cannot create %q: %w", tmp, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("durable: cannot write %q: %w", filepath.Join(dir, name), err)
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so that a rename or removal in it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("durable: cannot open directory %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("durable: cannot sync directory %q: %w", dir, err)
	}
	return nil
}
