package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// deleted reports whether the spool's directory was removed: a directory
// unlinked while open has no links left. One renamed away still has its
// links, and the spool goes on writing into it wherever it went.
func (s *spool) deleted() bool {
	if hook := s.deletedHook.Load(); hook != nil {
		(*hook)(s)
	}
	s.dirMu.RLock()
	defer s.dirMu.RUnlock()
	return s.deletedLocked()
}

// deletedLocked is deleted with dirMu held.
func (s *spool) deletedLocked() bool {
	if s.d == nil {
		return false
	}
	var st unix.Stat_t
	return unix.Fstat(s.dfd, &st) == nil && st.Nlink == 0
}

// remake makes the spool directory again after it was deleted (an operator
// cleaning up, a volume wiped), with the mode openSpool gives it, locks it
// and forgets the batches that went with the old one, telling remade how
// many records they held. Before, every batch was dropped until a restart.
// It refuses what it finds at the path instead when that is not a
// directory it can trust (makeSpoolDir). A directory another writer made
// again already is left as it is.
//
// A directory found at the path (an operator restored the spool from a
// copy) is used with the batches in it, taken as openSpool takes them at
// start (adopt: no symbolic link followed, another user's file or one
// larger than the spool never its own, checkSeq): they were ignored until
// a restart (TestSpoolRestoredDirectoryReplayed). A batch of the old
// directory found again under its name is not counted lost, and a new
// batch numbered as a restored one is written under the next free number
// (claim), not over it.
func (s *spool) remake() error {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	var st unix.Stat_t
	if s.d == nil || unix.Fstat(s.dfd, &st) != nil || st.Nlink != 0 {
		return nil
	}
	d, err := makeSpoolDir(s.dir)
	if err != nil {
		return err
	}
	ents, err := d.ReadDir(-1)
	if err != nil {
		d.Close()
		return fmt.Errorf("audit: cannot list the spool directory %q made again: %w", s.dir, err)
	}
	slices.SortFunc(ents, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	lock, err := lockSpool(int(d.Fd()), s.dir)
	if err != nil {
		d.Close()
		return err
	}
	old, oldLock := s.d, s.lock
	s.setDir(d)
	s.lock = lock
	s.mu.Lock()
	gone, goneBytes := s.files, s.bytes
	s.files, s.bytes = nil, 0
	for _, e := range ents {
		s.adoptLocked(e)
	}
	if err := s.checkSeq(); err != nil {
		// As at start: a batch numbered past the highest leaves no next
		// sequence. None of the restored batches is used, and the
		// directory stays the deleted one, refused again at each write.
		s.files, s.bytes = gone, goneBytes
		s.used.Store(s.bytes + s.reserved)
		s.mu.Unlock()
		s.lock.Close()
		s.d.Close()
		s.d, s.lock = old, oldLock
		s.dfd = int(old.Fd())
		return err
	}
	oldLock.Close()
	old.Close()
	s.gen++
	lost := 0
	for _, f := range gone {
		switch {
		case !f.ours || slices.ContainsFunc(s.files, func(g spoolFile) bool { return g.ours && g.name == f.name }):
		case f.name == s.replaying:
			s.replayingGone = true // the replay's to count (release)
		default:
			lost += f.records
			s.noteLostLocked(f)
		}
	}
	s.mu.Unlock()
	// Not saved, the count holds in this run, and the next save (a batch
	// lost or taken) writes it: the directory is the spool's all the same.
	_ = s.saveLost()
	if s.remade != nil {
		s.remade(lost)
	}
	return nil
}

// adoptNew lists the spool directory and takes the batches in it the
// spool does not list, as remake takes those of a directory it finds, and
// returns how many. remake reads a directory once, when it finds it: an
// operator restoring the spool file by file (rm -r, then cp) raced it,
// and the batches copied in after it read the directory were ignored
// until a restart (TestSpoolRestoredDirectoryReplayed failed now and
// then, "timed out waiting for the 300 restored and 300 new records
// stored"). The replay calls it when it finds the spool empty, before it
// leaves its backlog. Batches being written (claimed) and temporary
// files are left alone, and none is being removed: remove unlists and
// unlinks under dirMu held for reading, which this excludes; a batch numbered past the highest
// sequence is taken as another's (refused at its turn, never setting the
// next sequence).
func (s *spool) adoptNew() int {
	s.dirMu.Lock() // no write, remove or remake in the directory meanwhile
	defer s.dirMu.Unlock()
	if s.d == nil {
		return 0
	}
	fd, err := unix.Openat(s.dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	d := os.NewFile(uintptr(fd), s.dir)
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, name := range names {
		f, ok := parseSpoolName(name)
		if !ok || slices.ContainsFunc(s.files, func(g spoolFile) bool { return g.name == name }) {
			continue
		}
		if _, writing := s.claimed[name]; writing {
			continue
		}
		var st unix.Stat_t
		if unix.Fstatat(s.dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue // gone meanwhile
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size <= s.max && int(st.Uid) == os.Geteuid() && f.seq < maxSpoolSeq {
			f.size, f.ours = st.Size, true
		}
		s.markRestoredLocked(&f)
		s.insertLocked(f)
		n++
	}
	return n
}

// makeSpoolDir makes the spool directory at path (and its missing parents)
// with mode 0700, as openSpool does, and opens it without following a
// symbolic link. Whoever can write the parent directory can put something
// else at the name between the two: a symbolic link (the batches would go
// where it points), a directory of its own (it could read them and plant
// batches). So it takes only a directory owned by this process's user
// that no other user may write, and says what it found otherwise.
func makeSpoolDir(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: cannot make the spool directory %q again: %w", path, err)
	}
	if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("audit: cannot make the spool directory %q again: %w", path, err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return nil, fmt.Errorf("audit: the spool directory %q was deleted and a symbolic link is in its place: not followed (whoever can write %q may have planted it); batches are not spooled until it is a directory again", path, filepath.Dir(path))
		}
		return nil, fmt.Errorf("audit: cannot open the spool directory %q made again: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("audit: cannot open the spool directory %q made again: %w", path, err)
	}
	switch {
	case int(st.Uid) != os.Geteuid():
		err = fmt.Errorf("audit: the spool directory %q was deleted and a directory of uid %d is in its place, not of this sidecar's %d: not used; batches are not spooled until it is the sidecar's again", path, st.Uid, os.Geteuid())
	case st.Mode&0o022 != 0:
		err = fmt.Errorf("audit: the spool directory %q was deleted and the directory in its place may be written by other users (mode %#o): not used; batches are not spooled until it is 0700 again", path, st.Mode&0o777)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}
