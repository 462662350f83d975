package audit

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sys/unix"
)

// ErrSpoolFull is returned (wrapped) when a batch does not fit in the spool.
var ErrSpoolFull = errors.New("audit: spool full")

// spoolFile is one spooled batch: <seq, 20 digits>-<records>.otlp.
type spoolFile struct {
	name    string
	seq     uint64
	records int
	size    int64
	ours    bool // a regular file of this process's user (see adopt)
	// restored marks a batch counted lost with a deleted spool directory
	// and then put back in the directory made again (spool.lost): its
	// records are in DroppedSpool already, and delivered they count
	// Restored, not Replayed.
	restored bool
	// lostRecords, set with restored, are the most records the batch
	// counts Restored: those the batch lost under its sequence held
	// (maxLostRecords when not known), or a half's share of them
	// (splitSpooled).
	lostRecords int
}

// spool keeps batches the collector has not acknowledged, one fsync'd file
// per batch named by sequence, so they survive a restart and replay in order.
//
// Every file operation is relative to the directory opened at start (or
// made again, spool_dir.go), never through its path: a directory renamed
// away and replaced by a symbolic link, by a user who can write its
// parent, does not take the batches to where the link points.
type spool struct {
	dir string
	max int64

	used atomic.Int64 // bytes of files and reservations, for readers that must not wait for mu

	// dirMu is held for reading by every operation in the directory, for
	// writing by remake, which replaces d: a file descriptor closed while a
	// write used it could be reused by another open.
	dirMu sync.RWMutex
	d     *os.File // the directory
	dfd   int      // d's descriptor
	lock  *os.File // holds the directory's flock while the spool is open
	// gen counts the directories made again (remake): a write or read that
	// failed in a directory made again since is no verdict on the batch.
	gen uint64
	// remade is told how many spooled records went with a deleted
	// directory each time it is made again (the Emitter counts and logs).
	remade func(lost int)
	// deletedHook, when a test sets it, runs as deleted begins: where a
	// write or read that failed asks whether the directory went, and
	// another goroutine's remake may just have made it again. A field,
	// atomic, rather than a package variable: tests that set it run in
	// parallel with the emitter's goroutines of others, under -race.
	deletedHook atomic.Pointer[func(*spool)]

	mu       sync.Mutex // guards the following fields
	files    []spoolFile
	bytes    int64 // of files
	reserved int64 // of batches on their way into files (reserve)
	// claimed are the names of batches being written, with their
	// sequences (claim).
	claimed map[string]uint64
	// replaying is the name of the batch the replay holds (hold): read,
	// on its way to the collector or being cut in two. remake does not
	// count it lost with its directory but sets replayingGone, and the
	// replay's outcome decides (release).
	replaying     string
	replayingGone bool
	// lost are the sequences of the sidecar's batches counted lost with
	// a deleted directory (remake, lostWithDirectory), by this run or one
	// before it (lostFile): one put back by hand is taken as restored
	// (markRestoredLocked) until the collector takes it (forgetLost).
	lost lostSeqs
	// lostBad counts the lines of lostFile the start left out, none of
	// its lines (loadLost); the emitter logs them.
	lostBad int

	// lostChanged says lost changed since lostFile was last written: a
	// write reads it with no lock (saveLostChanged).
	lostChanged atomic.Bool
	// saveMu lets one saveLost run at a time with dirMu held for reading
	// (saveLostChanged): they write the same temporary file.
	saveMu sync.Mutex
}

// noteLostLocked remembers that batch f was counted lost, with its
// records (a restored batch's, at most its lostRecords: a half left none
// of them is not noted). s.mu held.
//
// It reports whether it noted it.
func (s *spool) noteLostLocked(f spoolFile) bool {
	n := f.records
	if f.restored {
		if n = min(n, f.lostRecords); n == 0 {
			return false
		}
	}
	s.lost.add(f.seq, n)
	s.lostChanged.Store(true)
	return true
}

// noteLost is noteLostLocked taking s.mu, and appends the loss to
// lostFile at once (appendLost); it is saved whole at the next batch
// spooled (saveLostChanged), remake or close.
func (s *spool) noteLost(f spoolFile) {
	s.mu.Lock()
	changed := s.noteLostLocked(f)
	n, _ := s.lost.records(f.seq)
	s.mu.Unlock()
	if changed {
		s.appendLost(f.seq, n)
	}
}

// markRestoredLocked marks f restored when it is a batch of this
// process's counted lost with a deleted directory, found again under its
// sequence: its records were counted dropped, and an operator put it
// back. Before, it was counted replayed too, and the records written to
// the spool were fewer than their fates
// (TestSpoolBatchLostThenRestoredCountedOnce). s.mu held.
func (s *spool) markRestoredLocked(f *spoolFile) {
	if !f.ours {
		return
	}
	if n, ok := s.lost.records(f.seq); ok {
		f.restored, f.lostRecords = true, cmp.Or(n, maxLostRecords)
	}
}

// openSpool opens (creating) the spool directory and lists its batches.
// With dir "" the spool holds nothing and every put fails.
func openSpool(dir string, max int64) (*spool, error) {
	return openSpoolKeyed(dir, max, nil)
}

// openSpoolKeyed is openSpool with the key that MACs lostFile's lines
// (lostKey); nil: they are checksummed only.
func openSpoolKeyed(dir string, max int64, key []byte) (*spool, error) {
	s := &spool{dir: dir, max: max}
	s.lost.key = key
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: cannot create spool directory %q: %w", dir, err)
	}
	d, err := os.Open(dir) // the path as configured, symbolic links and all
	if err != nil {
		return nil, fmt.Errorf("audit: cannot open spool directory %q: %w", dir, err)
	}
	if fi, err := d.Stat(); err != nil || !fi.IsDir() {
		d.Close()
		return nil, fmt.Errorf("audit: spool %q is not a directory", dir)
	}
	s.setDir(d)
	if s.lock, err = lockSpool(s.dfd, dir); err != nil {
		d.Close()
		return nil, err
	}
	ents, err := d.ReadDir(-1)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("audit: cannot list spool directory %q: %w", dir, err)
	}
	// In name order, so by sequence (File.ReadDir does not sort, as
	// os.ReadDir does): nextSeq and the replay take the files in order.
	slices.SortFunc(ents, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	s.loadLost()
	s.ensureLostFile()
	for _, e := range ents {
		s.adoptLocked(e) // no other user of s yet
	}
	if err := s.checkSeq(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// setDir makes d the spool's directory.
func (s *spool) setDir(d *os.File) {
	s.d, s.dfd = d, int(d.Fd())
}

// spoolLock is the file whose flock says a process uses the spool.
const spoolLock = ".lock"

// lockSpool takes the spool directory dfd (path dir) for this process: two
// emitters on one directory name their batches by the same sequence
// numbers, and one's batch was renamed over the other's, records lost with
// nothing counted.
func lockSpool(dfd int, dir string) (*os.File, error) {
	path := filepath.Join(dir, spoolLock)
	fd, err := unix.Openat(dfd, spoolLock, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: cannot open the spool lock %q: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("audit: spool directory %q is in use by another process (it holds %q): give each sidecar its own --spool", dir, path)
		}
		return nil, fmt.Errorf("audit: cannot lock the spool directory %q: %w", dir, err)
	}
	return f, nil
}

// close releases the spool directory.
func (s *spool) close() {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	// Only when the runs changed since lostFile was written: with no loss
	// a stop costs no write (ensureLostFile wrote one at start).
	if s.d != nil && s.lostChanged.Load() && !s.deletedLocked() {
		_ = s.saveLost() // as remake's: the counts of this run hold without it
	}
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
	if s.d != nil {
		s.d.Close()
		s.d = nil
	}
}

// adoptLocked adds an existing directory entry, removing leftovers of a
// write that a crash interrupted before its rename. s.mu held (or s not
// shared yet), and the directory s.dfd's.
func (s *spool) adoptLocked(e os.DirEntry) {
	name := e.Name()
	if strings.HasPrefix(name, tempName("")) {
		unix.Unlinkat(s.dfd, name, 0)
		return
	}
	f, ok := parseSpoolName(name)
	if !ok {
		return
	}
	// A file that is no batch this sidecar wrote (read refuses it at its
	// turn) takes no room: a planted sparse file of a terabyte, or one of
	// --spool-max another user owns, would otherwise fill the spool until
	// then (TestSpoolFileOfAnotherUserTakesNoRoom). Nor does it set the
	// next sequence: one planted as the largest made it wrap to 0, and
	// the new batches were replayed before the old and their ids taken
	// for ones the collector had stored (TestSpoolPlantedSeqSetsNoSequence).
	if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.Size() <= s.max && ownedByUs(info) {
		f.size, f.ours = info.Size(), true
	}
	s.markRestoredLocked(&f)
	s.files = append(s.files, f)
	s.bytes += f.size
	s.used.Store(s.bytes + s.reserved)
}

// parseSpoolName parses a batch's file name, exactly as put writes it
// (spoolName): a name it does not write ("...-01.otlp", "...-+1.otlp")
// is no batch of the spool's.
func parseSpoolName(name string) (spoolFile, bool) {
	base, ok := strings.CutSuffix(name, ".otlp")
	seqText, recText, ok2 := strings.Cut(base, "-")
	if !ok || !ok2 || len(seqText) != 20 {
		return spoolFile{}, false
	}
	seq, err1 := strconv.ParseUint(seqText, 10, 64)
	n, err2 := strconv.Atoi(recText)
	if err1 != nil || err2 != nil || n < 0 || spoolName(seq, n) != name {
		return spoolFile{}, false
	}
	return spoolFile{name: name, seq: seq, records: n}, true
}

// spoolName is the file name of batch seq of n records.
func spoolName(seq uint64, n int) string {
	return fmt.Sprintf("%020d-%d.otlp", seq, n)
}

// maxSpoolSeq is the highest sequence number a spooled batch may carry.
// A sidecar spooling a batch every microsecond reaches it in 292,000
// years, and the emitter counts on from it without wrapping: a batch
// numbered past it was not written by a sidecar, and the spool does not
// open rather than number the next batches from a wrapped 0, out of order
// and under the ids of batches already sent.
const maxSpoolSeq = 1 << 63

// checkSeq refuses a spool whose highest batch of its own leaves no next
// sequence number below maxSpoolSeq.
func (s *spool) checkSeq() error {
	for _, f := range slices.Backward(s.files) {
		if f.ours && f.seq >= maxSpoolSeq {
			return fmt.Errorf("audit: spooled batch %q in %q has sequence %d, at or past the highest a spool numbers (%d): the next batch's would wrap; move the file out of the spool", f.name, s.dir, f.seq, uint64(maxSpoolSeq))
		}
	}
	return nil
}

// nextSeq returns one past the highest sequence of a batch this sidecar
// spooled (1 when none): files of another user, which are never sent,
// do not set it.
func (s *spool) nextSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextSeqLocked()
}

// nextSeqLocked is nextSeq with s.mu held.
func (s *spool) nextSeqLocked() uint64 {
	// Past the batches counted lost too: a new batch numbered as one of
	// them would be taken for it put back, by the next run.
	next := uint64(1)
	if n := len(s.lost.runs); n > 0 {
		next = s.lost.runs[n-1].hi + 1
	}
	for _, f := range slices.Backward(s.files) {
		if f.ours {
			return max(next, f.seq+1)
		}
	}
	return next
}

// reserve takes room for a batch of n bytes on its way into the spool: the
// write happens later, outside the lock (spool_group.go), and the room is
// given back with unreserve.
func (s *spool) reserve(seq uint64, n int) error {
	if s.dir == "" {
		return fmt.Errorf("%w: no spool directory configured", ErrSpoolFull)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if used := s.bytes + s.reserved; used+int64(n) > s.max {
		return fmt.Errorf("%w: batch %d of %d bytes over the %s limit (%d bytes used)", ErrSpoolFull, seq, n, FormatSize(s.max), used)
	}
	s.reserved += int64(n)
	s.used.Add(int64(n))
	return nil
}

// reserveOver takes room for n bytes whatever the limit: the halves of a
// split batch (splitSpooled), whose own room is given back right after.
func (s *spool) reserveOver(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reserved += int64(n)
	s.used.Add(int64(n))
}

// unreserve gives back the room of a batch of n bytes that was not written.
func (s *spool) unreserve(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reserved -= int64(n)
	s.used.Add(-int64(n))
}

// commit lists a batch written into its file, its room reserved before.
func (s *spool) commit(f spoolFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reserved -= f.size
	s.insertLocked(f)
}

// insertLocked keeps files sorted by sequence. A file of the same name
// (another user's, which put's rename replaced) gives its place to f.
func (s *spool) insertLocked(f spoolFile) {
	for i := range s.files {
		if s.files[i].name == f.name {
			s.bytes += f.size - s.files[i].size
			s.files[i] = f
			s.used.Store(s.bytes + s.reserved)
			return
		}
	}
	i := len(s.files)
	for i > 0 && s.files[i-1].seq > f.seq {
		i--
	}
	s.files = append(s.files, spoolFile{})
	copy(s.files[i+1:], s.files[i:])
	s.files[i] = f
	s.bytes += f.size
	s.used.Store(s.bytes + s.reserved)
}

// oldest returns the spooled batch with the lowest sequence.
func (s *spool) oldest() (spoolFile, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.files) == 0 {
		return spoolFile{}, false
	}
	return s.files[0], true
}

// read returns the bytes of a spooled batch, read into buf (grown when
// too small), and the generation of the directory it read in (gen). A replay reuses one buffer rather than allocating a batch per
// file: under load the sender replays a batch every few milliseconds, and
// that garbage set the sidecar's peak heap (issue 18).
//
// Only a regular file no larger than the spool's bound, owned by this
// process's user (as every batch it spools is), is read, through no
// symbolic link: a file planted in the directory (or left there by
// something else) under a batch's name is refused, not followed out of
// the spool, not waited on (a FIFO blocked the replay for good, and Close
// with it), not read whole into memory (a sparse file of a terabyte), and
// not sent with the sidecar's credentials when another user wrote it
// (TestSpoolBatchOfAnotherUserNotSent).
//
// token is the file's replay token (fileToken), 0 when it was not read.
func (s *spool) read(f spoolFile, buf []byte) (data []byte, token, gen uint64, err error) {
	s.dirMu.RLock()
	defer s.dirMu.RUnlock()
	data, token, err = s.readIn(f, buf)
	return data, token, s.gen, err
}

// readIn is read with dirMu held for reading.
func (s *spool) readIn(f spoolFile, buf []byte) ([]byte, uint64, error) {
	fd, err := unix.Openat(s.dfd, f.name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return buf, 0, fmt.Errorf("audit: cannot read spooled batch %q: %w", f.name, &os.PathError{Op: "open", Path: filepath.Join(s.dir, f.name), Err: err})
	}
	fh := os.NewFile(uintptr(fd), filepath.Join(s.dir, f.name))
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return buf, 0, fmt.Errorf("audit: cannot read spooled batch %q: %w", f.name, err)
	}
	if !info.Mode().IsRegular() {
		return buf, 0, fmt.Errorf("audit: spooled batch %q is not a regular file (%s)", f.name, info.Mode().Type())
	}
	if info.Size() > s.max {
		return buf, 0, fmt.Errorf("audit: spooled batch %q of %d bytes is larger than the spool (%s): not one this sidecar wrote", f.name, info.Size(), FormatSize(s.max))
	}
	if !ownedByUs(info) {
		return buf, 0, fmt.Errorf("audit: spooled batch %q is owned by uid %d, not this sidecar's %d: not one it wrote, and not sent as its own", f.name, info.Sys().(*syscall.Stat_t).Uid, os.Geteuid())
	}
	buf = slices.Grow(buf[:0], int(info.Size()))[:info.Size()]
	if _, err := io.ReadFull(fh, buf); err != nil {
		return buf[:0], 0, fmt.Errorf("audit: cannot read spooled batch %q: %w", f.name, err)
	}
	return buf, fileToken(f.name, info), nil
}

// fileToken returns the replay token (HeaderReplay) of the spooled batch
// name whose file info is: the xxhash of its name and then its device,
// inode and change time (seconds, nanoseconds), each 8 bytes little-endian,
// never 0. The spool writes a batch's file once and renames it into
// place, so the token is the same at every replay of that file, by this
// run or the next: a replay whose answer was lost, by a sidecar stopped
// before its next attempt, is answered "this" (HeaderStoredBy) at the
// next run, and counts. A random token a replay took the batch for one
// stored before, counted in neither Replayed nor DroppedSpool
// (TestSpoolBatchAnswerLostThenRestartCountedReplayed). A copy of the
// file put back (written, linked or renamed in: each sets the change
// time) has another token, and a batch it holds that the collector stored
// before is answered "before" (TestSpoolBatchPutBackAfterReplayCountedOnce).
// It was an FNV-1a of the same bytes, by hand: a sidecar upgraded while a
// replay's answer was lost sends another token for the same file, and the
// batch is answered "before", counted neither replayed nor dropped
// (docs/audit.md). No allocation for a name of up to 96 bytes.
func fileToken(name string, info os.FileInfo) uint64 {
	var buf [128]byte
	b := append(buf[:0], name...)
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		for _, v := range [...]uint64{st.Dev, st.Ino, uint64(st.Ctim.Sec), uint64(st.Ctim.Nsec)} {
			b = binary.LittleEndian.AppendUint64(b, v)
		}
	}
	return xxhash.Sum64(b) | 1 // never 0: none
}

// ownedByUs reports whether a spool file belongs to this process's user,
// as every batch it spools does.
func ownedByUs(info os.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return !ok || int(st.Uid) == os.Geteuid()
}

// remove deletes a batch once delivered. It reports whether the spool
// still listed it: one that went with a deleted directory was counted
// lost by remake already. A batch of the old directory found again under
// its name in one made again is the same batch: delivered, it is removed.
func (s *spool) remove(f spoolFile) (listed bool, err error) {
	s.dirMu.RLock()
	defer s.dirMu.RUnlock()
	return s.removeIn(f)
}

// hold marks f as the batch the replay holds, until release. A batch it
// delivers, or cuts into halves written in the directory made again, is
// not lost; remake counted it lost all the same, and it was counted twice
// (TestSpoolBatchInFlightWhenDirectoryMadeAgainCountedOnce).
func (s *spool) hold(f spoolFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replaying, s.replayingGone = f.name, false
}

// release ends hold and reports whether the held batch went with a
// deleted directory meanwhile, not counted by remake: lost, unless the
// replay settled it.
func (s *spool) release() (gone bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gone = s.replayingGone
	s.replaying, s.replayingGone = "", false
	return gone
}

// removeUnreadable deletes a batch read found unreadable (read) in the
// directory of generation gen, as remove does, unless the directory was
// made again since: then the batch under f's name is one restored with
// it, or none (counted lost by remake), and it is read again at its turn,
// not taken for unreadable. Before, a restored batch was removed for the
// failed read of its deleted copy, and its records counted dropped
// (TestReplayKeepsBatchRestoredWhileItsReadFailed).
func (s *spool) removeUnreadable(f spoolFile, gen uint64) (listed bool, err error) {
	s.dirMu.RLock()
	defer s.dirMu.RUnlock()
	if s.gen != gen {
		return false, nil
	}
	return s.removeIn(f)
}

// removeIn is remove with dirMu held for reading, so that no remake
// replaces the directory between the listing and the unlink, and no
// adoptNew (which holds dirMu for writing) lists the directory there and
// takes the batch, off the list and not unlinked yet, for a new one.
func (s *spool) removeIn(f spoolFile) (listed bool, err error) {
	s.mu.Lock()
	for i := range s.files {
		if s.files[i].name == f.name { // by name: a file of another user's may carry the same seq
			s.files = append(s.files[:i], s.files[i+1:]...)
			s.bytes -= f.size
			s.used.Store(s.bytes + s.reserved)
			listed = true
			break
		}
	}
	s.mu.Unlock()
	if !listed {
		return false, nil // not to be unlinked: a new batch may carry its name in a directory made again
	}
	if err := unix.Unlinkat(s.dfd, f.name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return true, fmt.Errorf("audit: cannot remove spooled batch %q: %w", f.name, err)
	}
	return true, nil
}

// aboveHalf reports whether the spool, with pending more bytes, holds more
// than half its bound. It takes no lock.
func (s *spool) aboveHalf(pending int64) bool {
	return s.dir != "" && s.used.Load()+pending > s.max/2
}

// usage returns the number of files, records and bytes spooled (written,
// not reserved).
func (s *spool) usage() (files, records int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		records += f.records
	}
	return len(s.files), records, s.bytes
}

// FormatSize writes a size of n bytes in the largest unit it is a whole
// number of (GiB, MiB, KiB, then GB, MB, KB), else in bytes: the spool
// bound the user gave as 256MiB is shown as 256MiB, not 268435456.
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
