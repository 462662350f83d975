package etcdsync

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/internal/durable"
)

// lkgFile is the name of the last-known-good file in SyncConfig.StateDir.
const lkgFile = "policy-lkg.json"

// lkg is the content of the last-known-good file: the raw state of the
// last applied revision. It holds key digests, never secrets.
type lkg struct {
	Saved time.Time `json:"saved"` // when the state was last confirmed current (Store.HeardAt), not when written
	State *State    `json:"state"`
}

// LKGHealth is the state of the last-known-good file's saves, for /readyz
// and /metrics. A failing save leaves the policy in force as it is (it is
// in memory); what suffers is a restart while etcd is unreachable, which
// serves the file.
type LKGHealth struct {
	Dir          string    // SyncConfig.StateDir; "" keeps no file
	Revision     int64     // revision of the state last saved by this Syncer; 0: none yet
	Saved        time.Time // when; zero: none yet
	Failures     int64     // saves that failed
	Failing      bool      // the last save failed
	FailingSince time.Time // first failure of the current run of failures
	LastError    string    // why the last save failed
	Full         bool      // the last save found the disk full and removed the older file to make room
	Held         int       // revocations held in force over etcd gone back in revision (Syncer.hold), or gone before they lapsed (Syncer.holdLapsing)
	HeldSusp     int       // suspensions held in force so, until their until
}

// String says the state in a few words.
func (h LKGHealth) String() string {
	saved := "none saved yet"
	if h.Revision != 0 {
		saved = "revision " + strconv.FormatInt(h.Revision, 10) + " saved " + h.Saved.UTC().Format(time.RFC3339)
	}
	if h.Held > 0 {
		saved += "; " + strconv.Itoa(h.Held) + " revocations held in force that etcd lost when it went back in revision, or that went from it before they lapsed on this sidecar's clock (revoke them again, or let a token's lapse)"
	}
	if h.HeldSusp > 0 {
		saved += "; " + strconv.Itoa(h.HeldSusp) + " suspensions held in force until their until that etcd lost when it went back in revision (suspend them again)"
	}
	switch {
	case h.Dir == "":
		return "no state directory: none kept"
	case h.Failing:
		return "saves failing since " + h.FailingSince.UTC().Format(time.RFC3339) +
			" (a restart while etcd is unreachable would serve an older policy, or none): " + h.LastError + "; last " + saved
	}
	if h.Full {
		return saved + " (the disk was full: the older file made room for it)"
	}
	return saved
}

// LKGHealth returns the state of the last-known-good file's saves.
func (s *Syncer) LKGHealth() LKGHealth {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.lkg
	h.Dir, h.Failures, h.Held, h.HeldSusp = s.cfg.StateDir, s.saveFailures.Load(), int(s.heldN.Load()), int(s.heldSN.Load())
	return h
}

// save writes st to the last-known-good file and reports whether it did.
// On a full disk the older file is removed and the write tried once more:
// it holds a state older than the one in force, which a restart while
// etcd is unreachable would serve, taking back the revocations since, and
// its space may be what the new file needs. If that write fails too there
// is no file, and such a restart serves nothing until etcd answers (fails
// closed). Every failed write is counted
// (portcullis_policy_lkg_save_failures_total), a full disk the older
// file made room on too, since the next save may not fit. The first
// failure of a run is logged at error (a write that fit after the
// removal: at warn), the next ones at debug, the save after them at info,
// and LKGHealth says why.
func (s *Syncer) save(st *State) bool {
	if s.cfg.StateDir == "" {
		return true
	}
	// The file's time is when its state was last confirmed current (a
	// restart on it takes etcd as heard then), not when the write went
	// through: a save retried after etcd became unreachable would extend
	// the staleness bound by the time it failed.
	stamp := time.Now()
	if heard := s.store.HeardAt(); heard > 0 && heard < stamp.UnixNano() {
		stamp = time.Unix(0, heard)
	}
	err := writeLKG(s.cfg.StateDir, st, stamp)
	var full error // the write that found the disk full, when the older file made room
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		if rerr := os.Remove(filepath.Join(s.cfg.StateDir, lkgFile)); rerr == nil {
			s.saveFailures.Add(1)
			full = err
			if err = syncDir(s.cfg.StateDir); err == nil {
				err = writeLKG(s.cfg.StateDir, st, stamp)
			}
		}
	}
	removed := full != nil
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	h := &s.lkg
	if err == nil && removed && !h.Full {
		s.cfg.Logger.Warn().AnErr("first_write", full).Int64("revision", st.Revision).
			Msg("state directory full: removed the older last-known-good file to make room for the new one; the next save may not fit")
	}
	h.Full = removed
	if err != nil {
		s.saveFailures.Add(1)
		h.LastError = err.Error()
		if removed {
			h.LastError += "; the older file was removed (no room for both), so a restart while etcd is unreachable serves nothing until it answers"
		}
		log := s.cfg.Logger.Debug()
		if !h.Failing {
			h.Failing, h.FailingSince = true, now
			log = s.cfg.Logger.Error()
		}
		log.Err(err).Bool("older_removed", removed).Int64("revision", st.Revision).Int64("saved_revision", h.Revision).
			Msg("cannot save the last-known-good policy: a restart while etcd is unreachable would serve an older policy, or none; retrying")
		return false
	}
	if h.Failing {
		s.cfg.Logger.Info().Int64("revision", st.Revision).Dur("failing", now.Sub(h.FailingSince)).Bool("older_removed", removed).
			Msg("last-known-good policy saved again")
	}
	h.Failing, h.FailingSince, h.LastError = false, time.Time{}, ""
	h.Revision, h.Saved = st.Revision, now
	return true
}

// killedSaveAge is how old a temporary file of a save must be before a
// start removes it: a save takes well under a second, so an older one was
// killed before its rename (a second Syncer sharing the directory, which
// is a mistake, keeps its save in flight).
const killedSaveAge = time.Minute

// sweepKilledSaves removes the temporary files that saves killed before
// their rename left in the state directory. Each is as large as the
// policy, and on a small volume one is enough to make every later save
// fail for want of room.
func (s *Syncer) sweepKilledSaves(now time.Time) {
	left, _ := filepath.Glob(filepath.Join(s.cfg.StateDir, "."+lkgFile+"-*"))
	for _, path := range left {
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() || now.Sub(fi.ModTime()) < killedSaveAge {
			continue
		}
		if err := os.Remove(path); err != nil {
			s.cfg.Logger.Warn().Err(err).Msg("cannot remove the temporary file of a killed last-known-good save")
			continue
		}
		s.cfg.Logger.Info().Str("file", path).Int64("bytes", fi.Size()).Msg("removed the temporary file of a killed last-known-good save")
	}
}

// writeLKG writes st to dir atomically: a temporary file, fsync, rename,
// then fsync of the directory, so a crash leaves the old file or the new
// one, never a torn one. The document is followed by a line of its
// SHA-256 (lkgChecksum), which readLKG checks: a file torn or changed on
// the disk after the save is refused, never served.
func writeLKG(dir string, st *State, saved time.Time) error {
	f, err := os.CreateTemp(dir, "."+lkgFile+"-*")
	if err != nil {
		return fmt.Errorf("cannot create last-known-good file in %q: %w", dir, err)
	}
	defer os.Remove(f.Name()) // after the rename this removes nothing
	sum := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, sum), 64<<10)
	encodeLKG(w, st, saved)
	err = w.Flush()
	if err == nil {
		_, err = f.WriteString(lkgChecksumPrefix + hex.EncodeToString(sum.Sum(nil)) + lkgChecksumSuffix)
	}
	if err != nil {
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
	}{{"keys", st.Keys}, {"revocations", st.Revocations}, {"suspensions", st.Suspensions}, {"held", st.Held}, {"held_suspensions", st.HeldSuspensions}} {
		if strings.HasPrefix(m.name, "held") && len(m.records) == 0 {
			continue // omitempty
		}
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
	if st.Prefix != "" {
		w.WriteString(`,"prefix":`)
		value(st.Prefix)
	}
	if st.ClusterID != 0 {
		w.WriteString(`,"cluster":`)
		w.WriteString(strconv.FormatUint(st.ClusterID, 10))
	}
	if st.Witness != (Witness{}) {
		w.WriteString(`,"witness":`)
		value(st.Witness)
	}
	if len(st.EarlierWitnesses) > 0 {
		w.WriteString(`,"earlier_witnesses":`)
		value(st.EarlierWitnesses)
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

// readLKG reads the last-known-good file of dir saved for the deployment
// prefix (a file of another prefix is another deployment's policy): a
// regular file only (a FIFO at its name froze the policy sync for ever,
// waiting for a writer).
func readLKG(dir, prefix string) (*lkg, error) {
	l, err := readLKGFile(dir)
	if err == nil && l.State.Prefix != "" && l.State.Prefix != prefix {
		return nil, fmt.Errorf("last-known-good file %q was saved for prefix %q, not %q: another deployment's policy is never served", filepath.Join(dir, lkgFile), l.State.Prefix, prefix)
	}
	return l, err
}

// readLKGFile reads the last-known-good file of dir, whatever its prefix.
func readLKGFile(dir string) (*lkg, error) {
	path := filepath.Join(dir, lkgFile)
	f, err := durable.OpenRegular(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot read last-known-good file %q: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read last-known-good file %q: %w", path, err)
	}
	if err := private(fi, "last-known-good file", path); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("cannot read last-known-good file %q: %w", path, err)
	}
	doc, err := lkgChecksum(b)
	if err != nil {
		return nil, fmt.Errorf("last-known-good file %q refused: %w", path, err)
	}
	return decodeLKG(path, doc)
}

// The last line of the last-known-good file: the SHA-256 of the document
// before it, as a JSON object (the file stays a stream of JSON values).
const (
	lkgChecksumPrefix = `{"sha256":"`
	lkgChecksumSuffix = "\"}\n"
)

// Why lkgChecksum refuses a file.
var (
	errLKGNoChecksum = errors.New(`its last line is not the checksum line {"sha256":"..."}: torn, or saved by a version that wrote none`)
	errLKGSumDiffers = errors.New("it does not match the SHA-256 written with it: corrupted or edited since it was saved")
)

// lkgChecksum splits the file b into its document and the checksum line
// and returns the document if the line is there, whole, and names the
// document's SHA-256. It catches a torn write and a disk's corruption;
// anyone who can write the state directory can write a matching line too,
// which is why the directory and the file must be private to the
// sidecar's user (CheckStateDir).
func lkgChecksum(b []byte) ([]byte, error) {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, errLKGNoChecksum
	}
	at := bytes.LastIndexByte(b[:len(b)-1], '\n') + 1
	doc, line := b[:at], b[at:]
	hexSum, prefixed := bytes.CutPrefix(line, []byte(lkgChecksumPrefix))
	hexSum, suffixed := bytes.CutSuffix(hexSum, []byte(lkgChecksumSuffix))
	if !prefixed || !suffixed || at == 0 {
		return nil, errLKGNoChecksum
	}
	sum := sha256.Sum256(doc)
	want := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(want, sum[:])
	if !bytes.Equal(hexSum, want) {
		return nil, errLKGSumDiffers
	}
	return doc, nil
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
	l.State.fromFile = true
	for _, m := range []*map[string]string{&l.State.Keys, &l.State.Revocations, &l.State.Suspensions} {
		if *m == nil {
			*m = map[string]string{}
		}
	}
	return &l, nil
}
