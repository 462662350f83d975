package collector

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/durable"
)

// headTemp is the name head.json is written under before it is renamed
// into place (durable.TempName, as every file of the store).
var headTemp = durable.TempName(headFile)

// oldHeadTemp is the name collectors before the head was fsync'd wrote
// head.json under: a crash could leave a file there, which OpenStore
// removes (nothing writes there any more).
const oldHeadTemp = "." + headFile

// plantedPrefix begins the name a directory planted at one of the store's
// temporary names is moved aside to: a name no listing of the store takes
// for a segment, a digest or the head.
const plantedPrefix = ".planted-"

// writeFileLocked writes name in the store durably (durable.WriteFile).
// When the write fails and something other than a regular file sits at
// its temporary name (planted: the store only ever puts regular files
// there), it is cleared away (clearPlantedLocked) and the write tried
// once more: before, a FIFO, a link or a directory there failed every
// rotation, and the open segment grew past its limit without end.
func (s *Store) writeFileLocked(name string, data []byte) error {
	return s.writeWithLocked(durable.WriteFile, name, data)
}

// writeWithLocked is writeFileLocked through write: durable.WriteFile,
// or durable.Replace for the head signed after every append.
func (s *Store) writeWithLocked(write func(dir, name string, data []byte) error, name string, data []byte) error {
	err := write(s.dir, name, data)
	if err != nil && s.clearPlantedLocked(durable.TempName(name)) {
		err = write(s.dir, name, data)
	}
	return err
}

// clearPlantedLocked clears away what is planted at tmp, one of the
// store's temporary names, reports it to OnPlanted, and returns whether
// it did (a write through tmp is then worth trying again). A regular file
// or nothing there is left alone: the writers handle those. A FIFO, a
// link, a socket or a device is removed by its name, never opened or
// followed. A directory is renamed aside, to .planted-<tmp>-<unix nanos>,
// never read: deleting its tree would take the store's lock for as long
// as the tree is large (a planted directory is the attacker's to size)
// and destroy what an investigator would want to see, and renaming it is
// one system call, whatever it holds. A failure to clear is reported to
// OnPlanted too, and the write's own error stands.
func (s *Store) clearPlantedLocked(tmp string) bool {
	what, err := clearPlanted(s.dir, tmp, strconv.FormatInt(s.cfg.Now().UnixNano(), 10))
	if what == "" {
		return false
	}
	if err != nil {
		what = fmt.Sprintf("%s, which could not be cleared: %v", what, err)
	}
	if s.cfg.OnPlanted != nil {
		s.cfg.OnPlanted(what)
	}
	return err == nil
}

// clearPlanted clears away what is not a regular file at dir/tmp (a
// directory moved aside to a name ending in stamp) and says what it was
// and what was done, or "" when there was nothing to clear.
func clearPlanted(dir, tmp, stamp string) (string, error) {
	path := filepath.Join(dir, tmp)
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Mode().IsRegular()) {
		return "", nil
	}
	if err != nil {
		return fmt.Sprintf("collector: cannot inspect %q, a temporary name of the store", path), err
	}
	if fi.IsDir() {
		aside := filepath.Join(dir, plantedPrefix+strings.TrimPrefix(tmp, ".")+"-"+stamp)
		what := fmt.Sprintf("collector: a directory was planted at %q, a temporary name of the store", path)
		if err := os.Rename(path, aside); err != nil {
			return what, err
		}
		// The write tried next syncs the folder, this rename with it.
		return what + fmt.Sprintf("; moved aside, unread, to %q", aside), nil
	}
	what := fmt.Sprintf("collector: a %s was planted at %q, a temporary name of the store", fileKind(fi.Mode()), path)
	if err := os.Remove(path); err != nil {
		return what, err
	}
	return what + "; removed, never opened or followed", nil
}
