package audit

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// seqRun is a run of consecutive batch sequences, lo to hi inclusive,
// of batches that each held records records when they were counted lost
// (0: not known, a run an older sidecar wrote to lostFile).
type seqRun struct {
	lo, hi  uint64
	records uint32
}

// lostSeqs are the sequences of this sidecar's batches counted lost, with
// the records each held, as sorted runs of consecutive sequences of
// batches of as many records, that neither overlap nor touch but where
// their records differ. A directory lost whole is one run, or a few: the
// batches in it are the spool's sequences from its oldest, less those cut
// in two, most of them full batches. Before they held no counts, and a
// batch of more records put back under a lost one's sequence counted them
// all restored (TestSpoolRestoredBatchCountsAtMostTheLostOnes). Before, it
// was a set of names that kept 4096, and a batch put back past them was
// counted replayed as well as dropped
// (TestSpoolManyBatchesLostThenRestoredCountedOnce). The zero value is
// empty.
type lostSeqs struct {
	runs []seqRun
	cap  int // runs kept at most; 0 means maxLostRuns
	// key MACs the lines of lostFile (lostKey); nil: they are
	// checksummed only.
	key []byte
}

// maxLostRuns is how many runs of lost sequences the spool remembers
// (16 bytes each): the lowest goes past it, and a batch of it put back
// counts replayed as well as dropped.
const maxLostRuns = 4096

// find returns the index of the first run ending at or after seq.
func (l *lostSeqs) find(seq uint64) int {
	i, _ := slices.BinarySearchFunc(l.runs, seq, func(r seqRun, seq uint64) int { return cmp.Compare(r.hi, seq) })
	return i
}

// has reports whether seq was counted lost.
func (l *lostSeqs) has(seq uint64) bool {
	_, ok := l.records(seq)
	return ok
}

// records returns the records batch seq held when it was counted lost (0
// when not known), and whether it was.
func (l *lostSeqs) records(seq uint64) (n int, ok bool) {
	i := l.find(seq)
	if i < len(l.runs) && l.runs[i].lo <= seq {
		return int(l.runs[i].records), true
	}
	return 0, false
}

// add notes seq, a batch of n records (0: not known), counted lost.
func (l *lostSeqs) add(seq uint64, n int) {
	rec := uint32(min(max(n, 0), maxLostRecords))
	i := l.find(seq)
	before := i > 0 && l.runs[i-1].hi+1 == seq && l.runs[i-1].records == rec
	after := i < len(l.runs) && l.runs[i].lo == seq+1 && l.runs[i].records == rec
	switch {
	case i < len(l.runs) && l.runs[i].lo <= seq:
		return
	case before && after:
		l.runs[i-1].hi = l.runs[i].hi
		l.runs = slices.Delete(l.runs, i, i+1)
	case before:
		l.runs[i-1].hi = seq
	case after:
		l.runs[i].lo = seq
	default:
		l.runs = slices.Insert(l.runs, i, seqRun{seq, seq, rec})
		l.trim()
	}
}

// maxLostRecords bounds a lost batch's records as lostSeqs keeps them.
const maxLostRecords = 1 << 30

// take forgets seq and reports whether it was counted lost.
func (l *lostSeqs) take(seq uint64) bool {
	i := l.find(seq)
	if i == len(l.runs) || l.runs[i].lo > seq {
		return false
	}
	switch r := l.runs[i]; {
	case r.lo == r.hi:
		l.runs = slices.Delete(l.runs, i, i+1)
	case seq == r.lo:
		l.runs[i].lo++
	case seq == r.hi:
		l.runs[i].hi--
	default:
		l.runs[i].hi = seq - 1
		l.runs = slices.Insert(l.runs, i+1, seqRun{seq + 1, r.hi, r.records})
		l.trim()
	}
	return true
}

// trim drops the lowest runs past the cap.
func (l *lostSeqs) trim() {
	if n := len(l.runs) - cmp.Or(l.cap, maxLostRuns); n > 0 {
		l.runs = slices.Delete(l.runs, 0, n)
	}
}

// lostFile is the file in the spool directory that keeps lostSeqs
// across a restart: a batch counted lost by one run and put back after
// it restarted was counted replayed by the next, and over the two runs
// the replayed and the dropped were more than the records spooled
// (TestSpoolBatchLostThenRestoredAfterRestartCountedOnce). One line a
// run, lowest first: "lo hi records sum" in decimal (records 0: not
// known), sum the CRC-32C of "lo hi records" in 8 hex digits (lostSum), so
// that a line cut short is told from a whole one. Before, a line cut in
// its count ("50" to "5") still read, and lowered the records a batch
// put back under its sequence counted restored
// (TestLostLineCutAtEveryByte). A line without its sum ("lo hi records"
// or "lo hi", as sidecars wrote it before) is read as a run of counts
// not known: it may be a line cut short.
const lostFile = ".lost"

// maxLostFileBytes bounds the lostFile read at start: maxLostRuns lines
// of two 20-digit numbers, a 10-digit one and a sum take 253,952 bytes.
const maxLostFileBytes = 1 << 20

// encode returns l as lostFile holds it.
func (l *lostSeqs) encode() []byte {
	var b []byte
	for _, r := range l.runs {
		b = appendLostLine(b, r, l.key)
	}
	return b
}

// appendLostLine appends the line of lostFile of run r: its sum is the
// MAC under key (lostMAC), or without a key the checksum (lostSum).
func appendLostLine(b []byte, r seqRun, key []byte) []byte {
	start := len(b)
	b = strconv.AppendUint(b, r.lo, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, r.hi, 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(r.records), 10)
	b = append(b, ' ')
	if key != nil {
		return append(hex.AppendEncode(b, lostMAC(key, b[start:len(b)-1])), '\n')
	}
	sum := lostSum(b[start : len(b)-1])
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, "0123456789abcdef"[sum>>uint(shift)&0xf])
	}
	return append(b, '\n')
}

// lostSum is the checksum ending a line of lostFile written without a
// key: the CRC-32C of the line before it.
func lostSum(text []byte) uint32 { return crc32.Checksum(text, castagnoli) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// domainLost is the MAC domain of a line of lostFile.
const domainLost = "portcullis-spool-lost-v1\n"

// lostKey is the key that MACs the lines of lostFile, derived from the
// sidecar's bearer token for the collector (HMAC-SHA256 of domainLost
// under it), or nil without a token. Whoever can write the spool
// directory but not read the token can no longer set a batch's count:
// a line whose MAC does not verify is read as a batch whose count is not
// known, as one written before lines were MAC'd is, never a lower one.
// A token rotated leaves the lines before it so.
func lostKey(token string) []byte {
	if token == "" {
		return nil
	}
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(domainLost))
	return m.Sum(nil)
}

// lostMAC is the MAC ending a line of lostFile written with key: the
// first 16 bytes of HMAC-SHA256 of the domain and the line before it,
// 32 hex digits.
func lostMAC(key, text []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(domainLost))
	m.Write(text)
	return m.Sum(nil)[:16]
}

// parseLost reads the runs lostFile holds, each below maxSpoolSeq (a
// planted number does not set the next sequence: nextSeq), and counts
// the lines it leaves out (bad).
//
// Past the runs encode writes come the lines appendLost adds, one
// sequence each, in any order: each is added as lostSeqs.add does. A last
// line without its newline is a torn append (the sidecar stopped while it
// wrote it) and is left out, not counted. A line whose sum does not match
// (cut short, then run on: the whole line it ends with is read,
// runOnTail), one that is none of lostFile's, and a run overlapping one
// read before are left out and counted; the others are kept. Before, one
// such line refused the whole file, and the start emptied it: every batch
// counted lost was forgotten (TestLostFileBadLineKeepsTheRest). Lines
// without a sum are read as counts not known (parseLostLine), and runs
// touching of as many records merge.
func parseLost(data, key []byte) (runs []seqRun, bad int) {
	var l lostSeqs
	for line := range strings.Lines(string(data)) {
		text, whole := strings.CutSuffix(line, "\n")
		if !whole {
			break
		}
		r, how := parseLostLine(text, key)
		if how != lineWhole && how != lineOld {
			r, how = runOnTail(text, r, how, key)
		}
		switch {
		case how == lineTorn || how == lineBad:
			bad++
		case r.lo == r.hi && l.has(r.lo):
			// appended again after a write of the runs: kept once
		case !l.insert(r):
			bad++
		}
	}
	return l.runs, bad
}

// insert adds run r where it belongs, merged with a run it touches of as
// many records, and reports whether it did: not when it overlaps a run
// held.
func (l *lostSeqs) insert(r seqRun) bool {
	i := l.find(r.lo)
	if i < len(l.runs) && l.runs[i].lo <= r.hi {
		return false
	}
	l.runs = slices.Insert(l.runs, i, r)
	if i+1 < len(l.runs) && !apart(l.runs[i], l.runs[i+1]) {
		l.runs[i].hi = l.runs[i+1].hi
		l.runs = slices.Delete(l.runs, i+1, i+2)
	}
	if i > 0 && !apart(l.runs[i-1], l.runs[i]) {
		l.runs[i-1].hi = l.runs[i].hi
		l.runs = slices.Delete(l.runs, i, i+1)
	}
	l.trim()
	return true
}

// runOnTail reads line, which parseLostLine found bad, torn or not
// verified (r, how), as an append run on from one cut short (a short
// write of appendLost, the disk full, the sidecar running on): the whole
// line it ends with, its sum matching, the cut one before it left out.
// Before, the two read as one line that is none of lostFile's, and the
// start refused the whole file, every batch counted lost forgotten
// (TestLostLineCutThenRunOnAtEveryByte). Else r and how, as
// parseLostLine said.
func runOnTail(line string, r seqRun, how int, key []byte) (seqRun, int) {
	f := strings.Split(line, " ")
	if len(f) < 4 {
		return r, how
	}
	lo := f[len(f)-4] // the whole line's first field, after the cut line's last digits
	start := len(line) - len(strings.Join(f[len(f)-4:], " "))
	for i := start; i < start+len(lo); i++ {
		if tail, got := parseLostLine(line[i:], key); got == lineWhole {
			return tail, lineWhole
		}
	}
	return r, how
}

// apart reports whether run r follows run p as lostSeqs keeps them: past
// it, and not touching it but with other records.
func apart(p, r seqRun) bool {
	return r.lo > p.hi+1 || r.lo == p.hi+1 && r.records != p.records
}

// What parseLostLine found a line of lostFile to be.
const (
	lineWhole      = iota // a line with its sum or MAC
	lineOld               // a line without a sum: its counts are not known
	lineUnverified        // a line whose MAC does not verify, or with a checksum where a MAC is due: its counts are not known
	lineTorn              // a line whose sum does not match: left out
	lineBad               // none of lostFile's lines
)

// parseLostLine reads one line of lostFile: "lo hi records sum", or, as
// older sidecars wrote it, "lo hi records" or "lo hi", read as counts not
// known (records 0): a line without its sum may be one cut short. The sum
// is a MAC (32 hex digits) when key is set and a CRC-32C (8) when not; a
// line with the other, or a MAC that does not verify, is read as counts
// not known (lineUnverified): it may be an editor's, or one written
// under a token since rotated.
func parseLostLine(line string, key []byte) (seqRun, int) {
	f := strings.Split(line, " ")
	how := lineOld
	if len(f) == 4 {
		body := line[:len(line)-len(f[3])-1]
		switch len(f[3]) {
		case 8:
			sum, err := strconv.ParseUint(f[3], 16, 32)
			if err != nil || uint32(sum) != lostSum([]byte(body)) {
				return seqRun{}, lineTorn
			}
			how = lineWhole
			if key != nil {
				how = lineUnverified
			}
		case 2 * 16:
			mac, err := hex.DecodeString(f[3])
			if err != nil {
				return seqRun{}, lineTorn
			}
			how = lineUnverified
			if key != nil && hmac.Equal(mac, lostMAC(key, []byte(body))) {
				how = lineWhole
			}
		default:
			return seqRun{}, lineTorn
		}
	}
	if len(f) < 2 || len(f) > 4 {
		return seqRun{}, lineBad
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 64)
	hi, err2 := strconv.ParseUint(f[1], 10, 64)
	rec, err3 := uint64(0), error(nil)
	if len(f) > 2 {
		rec, err3 = strconv.ParseUint(f[2], 10, 32)
	}
	if err1 != nil || err2 != nil || err3 != nil || lo > hi || hi >= maxSpoolSeq || rec > maxLostRecords || len(f) == 3 && rec == 0 {
		return seqRun{}, lineBad
	}
	if how != lineWhole {
		rec = 0
	}
	return seqRun{lo, hi, uint32(rec)}, how
}

// loadLost reads lostFile in the spool's directory at start. Only a
// regular file of this process's user, through no symbolic link and not
// larger than maxLostFileBytes, is read; anything else there counts no
// batch lost. Lines that are none of lostFile's are left out and counted
// (lostBad); the file is never emptied.
//
// A torn last line (parseLost leaves it out) is cut off the file: the
// next loss appended (appendLost) ran on from it, the two read as one line
// that is none of encode's, and the next start refused the whole file,
// forgetting every batch counted lost
// (TestSpoolLossAfterTornLineKilledCountedOnce). Not fsync'd: the fsync
// of the next append makes the cut durable with it.
func (s *spool) loadLost() {
	fd, err := unix.Openat(s.dfd, lostFile, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	fh := os.NewFile(uintptr(fd), filepath.Join(s.dir, lostFile))
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil || !info.Mode().IsRegular() || !ownedByUs(info) || info.Size() > maxLostFileBytes {
		return
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxLostFileBytes))
	if err != nil {
		return
	}
	s.lost.runs, s.lostBad = parseLost(data, s.lost.key)
	if whole := bytes.LastIndexByte(data, '\n') + 1; whole < len(data) {
		fh.Truncate(int64(whole)) // else the torn line stays, as before
	}
}

// saveLost writes the sequences counted lost to lostFile (empty when
// there are none: it stays, for appendLost), fsync'd and renamed into
// place, the directory fsync'd:
// when the directory is made again (remake), when the spool closes, and
// at the next batch spooled after they changed (saveLostChanged). dirMu
// held for writing, or for reading with saveMu, so no other saveLost
// meanwhile. When it fails, the runs stay changed, for the next occasion.
func (s *spool) saveLost() (err error) {
	s.mu.Lock()
	data := s.lost.encode()
	s.lostChanged.Store(false) // a change from now on is written at the next occasion
	s.mu.Unlock()
	defer func() {
		if err != nil {
			s.lostChanged.Store(true)
		}
	}()
	f, err := s.createTemp(lostFile)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = fsync(int(f.Fd()))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(s.dfd, tempName(lostFile), s.dfd, lostFile)
	}
	if err != nil {
		unix.Unlinkat(s.dfd, tempName(lostFile), 0)
		return fmt.Errorf("audit: cannot write %q: %w", filepath.Join(s.dir, lostFile), err)
	}
	return s.syncDir()
}

// ensureLostFile makes an empty lostFile at start when there is none, so
// that a loss found later is appended to it (appendLost) rather than
// written into a file of its own. A sidecar killed before anything else
// wrote lostFile forgot it. No fsync: a start waits on no disk
// (TestBatcherDoesNotWaitForTheDisk); appendLost syncs the directory with
// the first loss, and an empty file lost in a crash is made again at the
// next start. The spool is not shared yet.
func (s *spool) ensureLostFile() {
	fd, err := unix.Openat(s.dfd, lostFile, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err == nil {
		unix.Close(fd)
	}
}

// appendLost appends batch seq of n records, just counted lost, to
// lostFile, fsync'd, so a sidecar killed before its next batch spooled
// (saveLostChanged) still knows it at its restart. Before, it forgot it,
// and the batch put back counted replayed as well as dropped
// (TestSpoolBatchLostThenKilledAtOnceCountedOnce).
//
// It appends only to the lostFile there (ensureLostFile, saveLost), never
// creating one: a batch found gone is one an operator's rm -r may be
// removing, and a file made in the directory then fails the removal; a
// lostFile rm -r removed already is not made again, and the loss waits
// for the next occasion, as before. Nor past maxLostFileBytes, which
// loadLost would not read. The runs stay changed either way, and the next
// batch spooled writes them whole. A loss costs an open, a write, two
// fsyncs (the file's, the directory's) and a close; the no-loss path,
// nothing.
func (s *spool) appendLost(seq uint64, n int) {
	s.dirMu.RLock()
	defer s.dirMu.RUnlock()
	if s.d == nil {
		return
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	fd, err := unix.Openat(s.dfd, lostFile, unix.O_WRONLY|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	line := appendLostLine(nil, seqRun{seq, seq, uint32(min(max(n, 0), maxLostRecords))}, s.lost.key)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != os.Geteuid() ||
		st.Size+int64(len(line)) > maxLostFileBytes {
		return
	}
	if _, err := unix.Write(fd, line); err == nil && fsync(fd) == nil {
		_ = s.syncDir() // lostFile's entry, made at start unsynced (ensureLostFile)
	}
}

// saveLostChanged writes lostFile when the runs counted lost changed since
// it was last written (noteLost, forgetLost); a write of batches calls it
// after them. Before, they were written only when the directory was made
// again and when the spool closed, and a sidecar killed (SIGKILL) before
// it stopped forgot the batches it counted lost as their files went: one
// put back after the restart was counted replayed as well as dropped
// (TestSpoolBatchLostThenRestoredAfterKillCountedOnce).
//
// At the loss itself only appended (appendLost): a batch found gone is
// one an operator's rm -r is removing, and a file written into the
// directory then fails the removal of the directory; a batch spooled
// writes one there anyway. Nor
// when the directory was deleted (remake writes the runs into the one it
// makes) or its lock file unlinked (an rm -r under way). A write that
// fails (ENOENT: the directory went meanwhile) is tried again at the next
// batch spooled. With no loss it costs one atomic load; a loss costs one
// write of lostFile (two fsyncs, a rename and two fstats) at the next
// group of batches written.
func (s *spool) saveLostChanged() {
	if !s.lostChanged.Load() {
		return
	}
	s.dirMu.RLock()
	defer s.dirMu.RUnlock()
	if s.d == nil || s.deletedLocked() || s.lockUnlinked() {
		return
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	_ = s.saveLost() // left changed when it fails: the next batch tries again
}

// lockUnlinked reports whether the spool's lock file (spoolLock) was
// unlinked: the directory is being removed. dirMu held.
func (s *spool) lockUnlinked() bool {
	if s.lock == nil {
		return false
	}
	var st unix.Stat_t
	return unix.Fstat(int(s.lock.Fd()), &st) == nil && st.Nlink == 0
}

// syncDir fsyncs the spool's directory. dirMu held.
func (s *spool) syncDir() error {
	if err := fsync(s.dfd); err != nil {
		return fmt.Errorf("audit: cannot sync the spool directory %q: %w", s.dir, err)
	}
	return nil
}

// forgetLost forgets batch f counted lost, once the collector took it
// (or refused it for good). Saved as noteLost's is.
func (s *spool) forgetLost(f spoolFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost.take(f.seq) {
		s.lostChanged.Store(true)
	}
}
