package evidence

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/portcullis/portcullis/internal/durable"
)

// staged is a new manifest written under temporary names in a locked
// pack folder and synced, to be renamed into place (commit) or removed.
type staged struct {
	dir   string
	files []packFile // the new files, by their final names
	tmps  []string   // where each is staged
	old   [][]byte   // the files they replace, to put back when a rename fails
}

// stageManifest stages manifest.csv, manifest.json and manifest.json.sig
// of rows, signed with key, in the locked pack dir, and reads the files
// they will replace. On error nothing is left behind.
func stageManifest(dir string, rows []ManifestRow, key ed25519.PrivateKey) (*staged, error) {
	files, err := manifestFiles(rows, key)
	if err != nil {
		return nil, err
	}
	st := &staged{dir: dir, files: files}
	for _, f := range files {
		old, err := readPackFile(filepath.Join(dir, f.name))
		if err != nil {
			st.remove()
			return nil, fmt.Errorf("cannot read %q of pack %q: %w", f.name, dir, err)
		}
		tmp, err := stageFile(dir, f.name, f.data)
		if err != nil {
			st.remove()
			return nil, fmt.Errorf("cannot write the new %q in pack %q: %w", f.name, dir, err)
		}
		st.old, st.tmps = append(st.old, old), append(st.tmps, tmp)
	}
	return st, nil
}

// remove deletes the staged files not renamed into place.
func (st *staged) remove() {
	for _, tmp := range st.tmps {
		if tmp != "" {
			os.Remove(tmp)
		}
	}
	st.tmps = nil
}

// commit renames the staged files into place, each in one rename (a link
// planted under a name is replaced, never written through), and syncs the
// folder. When a rename fails, the files already renamed get their old
// contents back, so the pack is the one that verified before; when that
// fails too the error wraps ErrManifestTorn.
func (st *staged) commit() error {
	defer st.remove()
	for i, f := range st.files {
		if err := os.Rename(st.tmps[i], filepath.Join(st.dir, f.name)); err != nil {
			err = fmt.Errorf("the manifest of pack %q was not re-signed: cannot replace %q: %w", st.dir, f.name, err)
			if perr := st.putBack(i); perr != nil {
				return fmt.Errorf("%w; %w", err, perr)
			}
			return err
		}
		st.tmps[i] = "" // renamed: nothing to remove
	}
	if err := durable.SyncDir(st.dir); err != nil {
		return fmt.Errorf("the manifest of pack %q was re-signed, but the folder could not be synced: %w", st.dir, err)
	}
	return nil
}

// putBack writes back the old contents of the first n files, renamed
// into place before a rename failed.
func (st *staged) putBack(n int) error {
	for i, f := range st.files[:n] {
		if err := replaceFile(st.dir, f.name, st.old[i]); err != nil {
			return fmt.Errorf("%w: the old %q could not be put back (%w): make the pack again with evidence pack", ErrManifestTorn, f.name, err)
		}
	}
	return nil
}

// isStagedManifest reports whether name is one stageFile gives a new
// manifest.csv, manifest.json or manifest.json.sig: the dot, the file's
// name, a dot and os.CreateTemp's random decimal digits
// (".manifest.json.2718281828"). Found in a pack folder, such a file is
// one an approve killed between staging and renaming left behind, never
// a file of the pack.
func isStagedManifest(name string) bool {
	for _, m := range []string{ManifestCSV, ManifestJSON, ManifestSig} {
		digits, ok := strings.CutPrefix(name, "."+m+".")
		if ok && digits != "" && strings.Trim(digits, "0123456789") == "" {
			return true
		}
	}
	return false
}

// removeLeftovers removes from the pack folder dir, locked exclusive, the
// regular files an interrupted Approve staged and never renamed
// (isStagedManifest), and syncs the folder when it removed one. Each is
// removed by its name, never opened, so a link is never followed; a name
// of the pattern that is not a regular file (a link, a pipe, a folder) is
// not Approve's and stays, for Verify to report.
func removeLeftovers(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cannot list pack %q: %w", dir, err)
	}
	removed := false
	for _, e := range entries {
		if !e.Type().IsRegular() || !isStagedManifest(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("cannot remove %s, left in pack %q by an interrupted evidence approve: %w", shown(e.Name()), dir, err)
		}
		removed = true
	}
	if removed {
		return durable.SyncDir(dir)
	}
	return nil
}
