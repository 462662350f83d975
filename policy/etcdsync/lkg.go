package etcdsync

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// lkgFile is the name of the last-known-good file in SyncConfig.StateDir.
const lkgFile = "policy-lkg.json"

// lkg is the content of the last-known-good file: the raw state of the
// last applied revision. It holds key digests, never secrets.
type lkg struct {
	Saved time.Time `json:"saved"` // when the state was last confirmed current
	State *State    `json:"state"`
}

// writeLKG writes st to dir atomically: a temporary file, fsync, rename,
// then fsync of the directory, so a crash leaves the old file or the new
// one, never a torn one.
func writeLKG(dir string, st *State, saved time.Time) error {
	b, err := json.Marshal(lkg{Saved: saved.UTC(), State: st})
	if err != nil {
		return fmt.Errorf("cannot encode last-known-good state at revision %d: %w", st.Revision, err)
	}
	f, err := os.CreateTemp(dir, "."+lkgFile+"-*")
	if err != nil {
		return fmt.Errorf("cannot create last-known-good file in %q: %w", dir, err)
	}
	defer os.Remove(f.Name()) // after the rename this removes nothing
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %q: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("cannot fsync %q: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot close %q: %w", f.Name(), err)
	}
	path := filepath.Join(dir, lkgFile)
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("cannot rename %q to %q: %w", f.Name(), path, err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot open state directory %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot fsync state directory %q: %w", dir, err)
	}
	return nil
}

// readLKG reads the last-known-good file of dir.
func readLKG(dir string) (*lkg, error) {
	path := filepath.Join(dir, lkgFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read last-known-good file: %w", err)
	}
	return decodeLKG(path, b)
}

// decodeLKG decodes the content b of the last-known-good file at path.
func decodeLKG(path string, b []byte) (*lkg, error) {
	var l lkg
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("cannot decode last-known-good file %q: %w", path, err)
	}
	if l.State == nil || l.State.Policy == "" {
		return nil, fmt.Errorf("last-known-good file %q holds no policy", path)
	}
	for _, m := range []*map[string]string{&l.State.Keys, &l.State.Revocations, &l.State.Suspensions} {
		if *m == nil {
			*m = map[string]string{}
		}
	}
	return &l, nil
}
