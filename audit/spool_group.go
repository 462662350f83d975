package audit

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/portcullis/portcullis/internal/durable"
	"golang.org/x/sys/unix"
)

// spoolWrite is one batch to write into the spool: its file (the room for
// its size reserved) and its bytes. err is the outcome.
type spoolWrite struct {
	f    spoolFile
	data []byte
	err  error
	done bool // written and listed
}

// write writes a group of batches durably, each into its own file as put
// always did: a temporary file, fsync'd, renamed into place; then the
// directory fsync'd once for the group. The fsyncs run together: the file
// system commits them in one journal transaction where it can (ext4's
// jbd2 and XFS's log force do), so a group of k batches costs about two
// commits rather than 2k, on a disk where each commit waits for the
// device. One batch at a time, two fsyncs each in the goroutine that
// drains the slots, the spool fell behind 11k requests a second on a
// network disk and 10-25% of the records were dropped
// (BenchmarkEmitterSpool). Written batches are listed in the spool
// (commit); a failed one keeps its reservation, for the caller to retry or
// give back. When the directory was deleted it is made again (remake) and
// the group written once more; so it is when another goroutine (the
// replay) made it again after the write failed in the deleted one: that
// remake waits for the write's read lock and, a writer waiting, runs
// before deleted takes it again, which then finds a live directory. The
// batch was dropped, counted, with the directory ready for it
// (TestSpoolWriteRetriedInDirectoryMadeAgainMeanwhile).
func (s *spool) write(group []spoolWrite) {
	defer s.saveLostChanged() // lost runs changed since the last save, if any
	gen := s.writeIn(group)
	if !failed(group) {
		return
	}
	if s.deleted() {
		if err := s.remake(); err != nil {
			for i := range group {
				if group[i].err != nil {
					group[i].err = err
				}
			}
			return
		}
	} else if s.generation() == gen {
		return // failed in the directory in use: not for a new one to mend
	}
	s.writeIn(group)
}

// generation returns the generation of the spool's directory (gen).
func (s *spool) generation() uint64 {
	s.dirMu.RLock()
	defer s.dirMu.RUnlock()
	return s.gen
}

// failed reports whether a write of group failed.
func failed(group []spoolWrite) bool {
	for _, w := range group {
		if w.err != nil {
			return true
		}
	}
	return false
}

// writeIn writes the batches of group not yet written into the directory
// as it is now, and returns its generation (gen).
func (s *spool) writeIn(group []spoolWrite) uint64 {
	s.dirMu.RLock()
	defer s.dirMu.RUnlock()
	if s.d == nil {
		for i := range group {
			group[i].err = fmt.Errorf("audit: spool %q closed", s.dir)
		}
		return s.gen
	}
	files := make([]*os.File, len(group))
	var wg sync.WaitGroup
	defer s.unclaim(group)
	for i := range group {
		w := &group[i]
		if w.done {
			continue // a retry after remake writes only what failed
		}
		w.err = nil
		s.claim(&w.f)
		files[i], w.err = s.createTemp(w.f.name)
		if w.err != nil {
			continue
		}
		wg.Go(func() {
			_, err := files[i].Write(w.data)
			if err == nil {
				err = fsync(int(files[i].Fd()))
			}
			w.err = err
		})
	}
	wg.Wait()
	renamed := false
	for i, f := range files {
		if f == nil {
			continue
		}
		w := &group[i]
		if err := f.Close(); w.err == nil {
			w.err = err
		}
		tmp := tempName(w.f.name)
		if w.err == nil {
			w.err = s.renameNew(tmp, &w.f)
		}
		if w.err != nil {
			unix.Unlinkat(s.dfd, tmp, 0)
			w.err = fmt.Errorf("audit: cannot write spooled batch %q: %w", filepath.Join(s.dir, w.f.name), w.err)
			continue
		}
		renamed = true
	}
	if !renamed {
		return s.gen
	}
	syncErr := fsync(s.dfd)
	for i, f := range files {
		w := &group[i]
		if f == nil || w.err != nil {
			continue
		}
		if syncErr != nil {
			// Not durably named: gone, it is counted lost rather than
			// replayed at the next start as well.
			unix.Unlinkat(s.dfd, w.f.name, 0)
			w.err = fmt.Errorf("audit: cannot sync the spool directory %q: %w", s.dir, syncErr)
			continue
		}
		s.commit(w.f)
		w.done = true
	}
	return s.gen
}

// fsync is unix.Fsync; BenchmarkEmitterSpool makes it wait as well for
// the commits of a slower disk than the test machine's.
var fsync = unix.Fsync

// tempName is the name a batch is written under before its rename, as
// durable.WriteFile names it (the spool wrote through it before); a
// leftover of a crash is removed at start (adoptLocked).
var tempName = durable.TempName

// createTemp creates the temporary file of batch name afresh (O_EXCL): a
// regular file at its name (left by a write that failed, or a hard link
// planted there) is removed first, and anything else there (a symbolic
// link, a FIFO) fails the write, as durable.WriteFile does.
func (s *spool) createTemp(name string) (*os.File, error) {
	tmp := tempName(name)
	var st unix.Stat_t
	if unix.Fstatat(s.dfd, tmp, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		if err := unix.Unlinkat(s.dfd, tmp, 0); err != nil {
			return nil, fmt.Errorf("audit: cannot remove %q, left at the name of a temporary file: %w", filepath.Join(s.dir, tmp), err)
		}
	}
	fd, err := unix.Openat(s.dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			err = fmt.Errorf("%w: something other than a regular file is at its name", err)
		}
		return nil, fmt.Errorf("audit: cannot create %q: %w", filepath.Join(s.dir, tmp), err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(s.dir, tmp)), nil
}

// claim gives f a name that no batch of this sidecar's in the spool has
// and no other write is using, and holds it until unclaim. Only a batch
// numbered before the batches of a directory restored with files in it
// (remake) is ever renamed, to one past the highest: its rename replaced
// the restored batch of its number. Its file name orders the replay; its
// id, in its bytes, stays as it was numbered.
//
// A batch of this sidecar's user at the name that the spool does not list
// (restored into the directory after remake read it, not adopted yet:
// adoptNew) is taken too: the rename replaced it, and its records were
// lost (TestSpoolRestoredDirectoryReplayed, now and then: 536 of the 600
// records stored, the spool empty). Called with dirMu held for reading.
func (s *spool) claim(f *spoolFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claimed == nil {
		s.claimed = map[string]uint64{}
	}
	taken := func(name string, seq uint64) bool {
		_, writing := s.claimed[name]
		return writing || s.listedOursLocked(name, seq) || s.oursUnlisted(name)
	}
	if taken(f.name, f.seq) {
		next := s.nextSeqLocked()
		for _, seq := range s.claimed {
			next = max(next, seq+1)
		}
		for taken(spoolName(next, f.records), next) {
			next++
		}
		f.seq, f.name = next, spoolName(next, f.records)
	}
	s.claimed[f.name] = f.seq
}

// oursUnlisted reports whether the directory holds a regular file of this
// process's user at name: a batch, listed or not. Another user's file
// there is replaced, as before (read would refuse it).
func (s *spool) oursUnlisted(name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(s.dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil &&
		st.Mode&unix.S_IFMT == unix.S_IFREG && int(st.Uid) == os.Geteuid()
}

// renameNew renames tmp, the temporary file of batch f, to f's name, but
// not over a batch of this user put there after claim looked (one restored
// by hand while f's bytes were committed: adoptNew takes it): f takes the
// next free name instead (claim). Before, the rename replaced it and its
// records were lost. RENAME_NOREPLACE makes the look and the rename one
// step; another user's file there is replaced, as claim leaves it, and a
// file system without the flag gets the plain rename, as before.
func (s *spool) renameNew(tmp string, f *spoolFile) error {
	for range 16 {
		err := unix.Renameat2(s.dfd, tmp, s.dfd, f.name, unix.RENAME_NOREPLACE)
		switch {
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EEXIST) && !s.oursUnlisted(f.name):
			return unix.Renameat(s.dfd, tmp, s.dfd, f.name)
		case !errors.Is(err, unix.EEXIST):
			return err
		}
		s.mu.Lock()
		delete(s.claimed, f.name)
		s.mu.Unlock()
		s.claim(f) // the file at the name is ours now: the next free one
	}
	return fmt.Errorf("%w: every name tried was taken", unix.EEXIST)
}

// unclaim lets go of the names of group's writes (claim), once each is
// listed in the spool or failed.
func (s *spool) unclaim(group []spoolWrite) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range group {
		delete(s.claimed, group[i].f.name)
	}
}

// listedOursLocked reports whether a batch of this sidecar's is listed
// under name (of sequence seq). s.mu held.
func (s *spool) listedOursLocked(name string, seq uint64) bool {
	i, _ := slices.BinarySearchFunc(s.files, seq, func(f spoolFile, seq uint64) int { return cmp.Compare(f.seq, seq) })
	for ; i < len(s.files) && s.files[i].seq == seq; i++ {
		if s.files[i].ours && s.files[i].name == name {
			return true
		}
	}
	return false
}
