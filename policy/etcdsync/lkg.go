package etcdsync

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
	f, err := os.CreateTemp(dir, "."+lkgFile+"-*")
	if err != nil {
		return fmt.Errorf("cannot create last-known-good file in %q: %w", dir, err)
	}
	defer os.Remove(f.Name()) // after the rename this removes nothing
	w := bufio.NewWriterSize(f, 64<<10)
	encodeLKG(w, st, saved)
	if err := w.Flush(); err != nil {
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

// encodeLKG writes lkg{saved, st} to w as the JSON json.Marshal makes of
// it, with a newline after each value, one record at a time: at 100,000
// key records json.Marshal built the whole document in memory, 39-49 MB of
// garbage for every change saved, now 12 MB (BenchmarkWriteLKG). The CPU
// is about the same, 160-210 ms, most of it escaping the records; saveLoop
// spaces the saves by it.
func encodeLKG(w *bufio.Writer, st *State, saved time.Time) {
	enc := json.NewEncoder(w)
	// Only strings and the present time are encoded, which cannot fail;
	// a write error stays in w, and its Flush returns it.
	value := func(v any) { _ = enc.Encode(v) }
	w.WriteString(`{"saved":`)
	value(saved.UTC())
	w.WriteString(`,"state":{"revision":`)
	w.WriteString(strconv.FormatInt(st.Revision, 10))
	w.WriteString(`,"policy":`)
	value(st.Policy)
	for _, m := range [...]struct {
		name    string
		records map[string]string
	}{{"keys", st.Keys}, {"revocations", st.Revocations}, {"suspensions", st.Suspensions}} {
		w.WriteString(`,"` + m.name + `":`)
		if m.records == nil {
			w.WriteString("null")
			continue
		}
		w.WriteByte('{')
		for i, name := range slices.Sorted(maps.Keys(m.records)) {
			if i > 0 {
				w.WriteByte(',')
			}
			value(name)
			w.WriteByte(':')
			value(m.records[name])
		}
		w.WriteByte('}')
	}
	w.WriteString("}}\n")
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
