package audit

import (
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

	"github.com/portcullis/portcullis/internal/durable"
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
}

// spool keeps batches the collector has not acknowledged, one fsync'd file
// per batch named by sequence, so they survive a restart and replay in order.
type spool struct {
	dir  string
	max  int64
	lock *os.File // holds the directory's flock while the spool is open

	used atomic.Int64 // bytes, for readers that must not wait for a put's fsync

	mu    sync.Mutex // guards the following fields
	files []spoolFile
	bytes int64
}

// openSpool opens (creating) the spool directory and lists its batches.
// With dir "" the spool holds nothing and every put fails.
func openSpool(dir string, max int64) (*spool, error) {
	s := &spool{dir: dir, max: max}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: cannot create spool directory %q: %w", dir, err)
	}
	if err := s.lockDir(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("audit: cannot list spool directory %q: %w", dir, err)
	}
	for _, e := range ents {
		s.adopt(e)
	}
	if err := s.checkSeq(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// spoolLock is the file whose flock says a process uses the spool.
const spoolLock = ".lock"

// lockDir takes the spool directory for this process: two emitters on one
// directory name their batches by the same sequence numbers, and one's
// batch was renamed over the other's, records lost with nothing counted.
func (s *spool) lockDir() error {
	path := filepath.Join(s.dir, spoolLock)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("audit: cannot open the spool lock %q: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("audit: spool directory %q is in use by another process (it holds %q): give each sidecar its own --spool", s.dir, path)
		}
		return fmt.Errorf("audit: cannot lock the spool directory %q: %w", s.dir, err)
	}
	s.lock = f
	return nil
}

// close releases the spool directory.
func (s *spool) close() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

// adopt adds an existing directory entry, removing leftovers of a write
// that a crash interrupted before its rename.
func (s *spool) adopt(e os.DirEntry) {
	name := e.Name()
	if strings.HasPrefix(name, ".tmp-") {
		os.Remove(filepath.Join(s.dir, name))
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
	s.files = append(s.files, f)
	s.bytes += f.size
	s.used.Store(s.bytes)
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
	for _, f := range slices.Backward(s.files) {
		if f.ours {
			return f.seq + 1
		}
	}
	return 1
}

// put writes a batch durably: temp file, fsync, rename, fsync directory.
func (s *spool) put(seq uint64, records int, data []byte) error {
	if s.dir == "" {
		return fmt.Errorf("%w: no spool directory configured", ErrSpoolFull)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes+int64(len(data)) > s.max {
		return fmt.Errorf("%w: batch %d of %d bytes over the %s limit (%d bytes used)", ErrSpoolFull, seq, len(data), FormatSize(s.max), s.bytes)
	}
	f := spoolFile{name: spoolName(seq, records), seq: seq, records: records, size: int64(len(data)), ours: true}
	if err := durable.WriteFile(s.dir, f.name, data); err != nil {
		return err
	}
	s.insertLocked(f)
	return nil
}

// insertLocked keeps files sorted by sequence. A file of the same name
// (another user's, which put's rename replaced) gives its place to f.
func (s *spool) insertLocked(f spoolFile) {
	for i := range s.files {
		if s.files[i].name == f.name {
			s.bytes += f.size - s.files[i].size
			s.files[i] = f
			s.used.Store(s.bytes)
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
	s.used.Store(s.bytes)
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
// too small). A replay reuses one buffer rather than allocating a batch per
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
func (s *spool) read(f spoolFile, buf []byte) ([]byte, error) {
	fh, err := os.OpenFile(filepath.Join(s.dir, f.name), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return buf, fmt.Errorf("audit: cannot read spooled batch %q: %w", f.name, err)
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return buf, fmt.Errorf("audit: cannot read spooled batch %q: %w", f.name, err)
	}
	if !info.Mode().IsRegular() {
		return buf, fmt.Errorf("audit: spooled batch %q is not a regular file (%s)", f.name, info.Mode().Type())
	}
	if info.Size() > s.max {
		return buf, fmt.Errorf("audit: spooled batch %q of %d bytes is larger than the spool (%s): not one this sidecar wrote", f.name, info.Size(), FormatSize(s.max))
	}
	if !ownedByUs(info) {
		return buf, fmt.Errorf("audit: spooled batch %q is owned by uid %d, not this sidecar's %d: not one it wrote, and not sent as its own", f.name, info.Sys().(*syscall.Stat_t).Uid, os.Geteuid())
	}
	buf = slices.Grow(buf[:0], int(info.Size()))[:info.Size()]
	if _, err := io.ReadFull(fh, buf); err != nil {
		return buf[:0], fmt.Errorf("audit: cannot read spooled batch %q: %w", f.name, err)
	}
	return buf, nil
}

// ownedByUs reports whether a spool file belongs to this process's user,
// as every batch it spools does.
func ownedByUs(info os.FileInfo) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return !ok || int(st.Uid) == os.Geteuid()
}

// remove deletes a batch once delivered.
func (s *spool) remove(f spoolFile) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.files {
		if s.files[i].name == f.name { // by name: a file of another user's may carry the same seq
			s.files = append(s.files[:i], s.files[i+1:]...)
			s.bytes -= f.size
			s.used.Store(s.bytes)
			break
		}
	}
	if err := os.Remove(filepath.Join(s.dir, f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit: cannot remove spooled batch %q: %w", f.name, err)
	}
	return nil
}

// aboveHalf reports whether the spool, with pending more bytes, holds more
// than half its bound. It does not wait for a put in progress (which holds
// mu through its fsync).
func (s *spool) aboveHalf(pending int64) bool {
	return s.dir != "" && s.used.Load()+pending > s.max/2
}

// usage returns the number of files, records and bytes spooled.
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
