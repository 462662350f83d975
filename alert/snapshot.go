package alert

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/portcullis/portcullis/internal/durable"
)

// snapshotVersion is the format of the snapshot file (2: with the
// key_rotation state; 3: with the keys' not_after from their events; 4:
// with the groups linked to a folded alert by their window only and each
// family's folded alert closed last; an older snapshot lacks them and is
// ignored).
const snapshotVersion = 4

// maxSnapshotBytes bounds the snapshot file Restore reads.
const maxSnapshotBytes = 256 << 20

// domainSnapshot keeps a snapshot signature from passing for anything else.
const domainSnapshot = "portcullis-detection-snapshot-v1\n"

// snapshotFile is the file: the payload and its Ed25519 signature.
type snapshotFile struct {
	Payload json.RawMessage `json:"payload"`
	Sig     []byte          `json:"sig"`
}

// snapshot is the payload: the engine's state and the chain position
// (seq and entry hash) it corresponds to.
type snapshot struct {
	Version int       `json:"version"`
	Seq     uint64    `json:"seq"`
	Hash    string    `json:"hash"`
	Rules   string    `json:"rules"` // fingerprint of the rules the state was built with
	Written time.Time `json:"written"`
	State   state     `json:"state"`
	hash    [32]byte
}

// state is the engine's detection state in a deterministic encoding:
// every list sorted, every map keyed by strings.
type state struct {
	Groups    []stateGroup                    `json:"groups"`
	Alerts    []Alert                         `json:"alerts"`
	Open      []stateRef                      `json:"open"`
	Closed    []stateRef                      `json:"closed"`
	Revoked   []string                        `json:"revoked"`
	KeyClient map[string]string               `json:"key_client"`
	KeyEnd    map[string]time.Time            `json:"key_end"` // Engine.keyEnd
	Networks  map[string]map[string]time.Time `json:"networks"`
	Observed  int                             `json:"observed"`
	Clock     time.Time                       `json:"clock,omitzero"` // Engine.clock
	Rotation  stateRotation                   `json:"rotation"`       // rotation.go
	// FoldClosed is each family's folded alert closed last
	// (Engine.foldClosed): two may have opened at one instant.
	FoldClosed map[string]string `json:"fold_closed,omitempty"`
}

// stateGroup is one rule group's window.
type stateGroup struct {
	Rule       string    `json:"rule"`
	Key        string    `json:"key"`
	Width      int64     `json:"width"`
	Head       int64     `json:"head"`
	Buckets    []int64   `json:"buckets"`
	IDs        []string  `json:"ids,omitempty"`
	Last       time.Time `json:"last"`
	LastUpdate time.Time `json:"last_update"`
	// Folded is the folded alert the group's records grow when e.open
	// does not link it (past maxFoldLinks, fold.go).
	Folded string `json:"folded,omitempty"`
}

// stateRef names the alert of a rule group.
type stateRef struct {
	Rule string `json:"rule"`
	Key  string `json:"key"`
	ID   string `json:"id"`
}

// stateLocked returns the state in its deterministic form.
func (e *Engine) stateLocked() state {
	st := state{KeyClient: e.keyClient, KeyEnd: e.keyEnd, Networks: map[string]map[string]time.Time{}, Observed: e.observed}
	for k, g := range e.groups {
		sg := stateGroup{Rule: k.rule, Key: k.key, IDs: g.requestIDs(), Last: g.last, LastUpdate: g.lastUpdate}
		if g.w != nil {
			sg.Width, sg.Head, sg.Buckets = g.w.width, g.w.head, g.w.buckets
		}
		if g.open != nil && e.open[k] != g.open.ID {
			sg.Folded = g.open.ID
		}
		st.Groups = append(st.Groups, sg)
	}
	sort.Slice(st.Groups, func(i, j int) bool {
		a, b := st.Groups[i], st.Groups[j]
		return a.Rule < b.Rule || a.Rule == b.Rule && a.Key < b.Key
	})
	for _, a := range e.alerts {
		st.Alerts = append(st.Alerts, *a)
	}
	sort.Slice(st.Alerts, func(i, j int) bool { return st.Alerts[i].ID < st.Alerts[j].ID })
	st.Open, st.Closed = refs(e.open), refs(e.closed)
	st.Revoked = sortedTrue(e.revoked)
	st.Clock = e.clock
	st.Rotation = e.rotationStateLocked()
	st.FoldClosed = e.foldClosed
	for c, nets := range e.networks {
		m := make(map[string]time.Time, len(nets))
		for p, t := range nets {
			m[p.String()] = t
		}
		st.Networks[c] = m
	}
	return st
}

func refs(m map[groupKey]string) []stateRef {
	out := make([]stateRef, 0, len(m))
	for k, id := range m {
		out = append(out, stateRef{Rule: k.rule, Key: k.key, ID: id})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Rule < out[j].Rule || out[i].Rule == out[j].Rule && out[i].Key < out[j].Key
	})
	return out
}

// restoreLocked replaces the state with st.
func (e *Engine) restoreLocked(st *state) {
	e.resetLocked()
	for _, sg := range st.Groups {
		g := &group{ids: sg.IDs, last: sg.Last, lastUpdate: sg.LastUpdate}
		if sg.Width > 0 && len(sg.Buckets) > 0 {
			g.w = &window{width: sg.Width, head: sg.Head, buckets: sg.Buckets}
		}
		e.groups[groupKey{sg.Rule, sg.Key}] = g
	}
	for i := range st.Alerts {
		a := st.Alerts[i]
		e.alerts[a.ID] = &a
	}
	for _, r := range st.Open {
		if a := e.alerts[r.ID]; a != nil {
			e.setOpenLocked(groupKey{r.Rule, r.Key}, a)
		}
	}
	for _, sg := range st.Groups {
		if a := e.alerts[sg.Folded]; a != nil && a.Folded > 0 && a.Status != StatusClosed {
			e.groups[groupKey{sg.Rule, sg.Key}].open = a
		}
	}
	for _, r := range st.Closed {
		e.closed[groupKey{r.Rule, r.Key}] = r.ID
	}
	for _, k := range st.Revoked {
		e.revoked[k] = true
	}
	for k, c := range st.KeyClient {
		e.keyClient[k] = c
	}
	for k, t := range st.KeyEnd {
		e.keyEnd[k] = t
	}
	for c, nets := range st.Networks {
		m := make(map[netip.Prefix]time.Time, len(nets))
		for p, t := range nets {
			if pre, err := netip.ParsePrefix(p); err == nil {
				m[pre] = t
			}
		}
		e.networks[c] = m
	}
	e.observed, e.clock = st.Observed, st.Clock
	e.restoreRotationLocked(&st.Rotation)
	e.recountLooseLocked()
	e.recountOpenLocked()
	for f, id := range st.FoldClosed {
		e.foldClosed[f] = id
	}
}

// reset empties the state.
func (e *Engine) reset() {
	e.mu.Lock()
	e.resetLocked()
	e.mu.Unlock()
}

func (e *Engine) resetLocked() {
	e.groups, e.alerts, e.open, e.closed = map[groupKey]*group{}, map[string]*Alert{}, map[groupKey]string{}, map[groupKey]string{}
	e.revoked, e.keyClient, e.keyEnd, e.networks = map[string]bool{}, map[string]string{}, map[string]time.Time{}, map[string]map[netip.Prefix]time.Time{}
	e.observed, e.pos, e.posHash, e.clock = 0, 0, [32]byte{}, time.Time{}
	e.loose = 0
	e.lastSrc, e.lastSrcGroup = "", ""
	e.forgetGroupsLocked()
	e.lastClient, e.lastNets = "", nil
	e.resetRotationLocked()
	e.recountOpenLocked()
}

// rulesFingerprintLocked identifies the rules the state is built with: a
// snapshot of windows cut for other rules is not restored.
func (e *Engine) rulesFingerprintLocked() string {
	b, _ := json.Marshal(e.rules) // a slice of plain structs always encodes
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// stateJSON returns the detection state (windows, baselines, alerts,
// learnt networks, revocations) in a deterministic encoding, and the chain
// position it corresponds to: two engines fed the same trail return the
// same bytes.
func (e *Engine) stateJSON() ([]byte, uint64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, err := json.Marshal(e.stateLocked())
	return b, e.pos, err
}

// ErrNoSnapshot is returned (wrapped) by WriteSnapshot when the engine
// cannot write one: none configured, or a state that is not the trail's.
var ErrNoSnapshot = errors.New("alert: no detection snapshot")

// WriteSnapshot writes the state and its chain position to
// Config.Snapshot, signed with Config.SnapshotKey, durably and atomically.
// It refuses while the state holds what the trail does not (an entry that
// failed to store after detection counted it): a later restart replays
// the trail instead.
func (e *Engine) WriteSnapshot(now time.Time) error {
	if e.cfg.Snapshot == "" || len(e.cfg.SnapshotKey) != ed25519.PrivateKeySize {
		return fmt.Errorf("%w: no snapshot file or key configured", ErrNoSnapshot)
	}
	e.mu.Lock()
	if e.diverged != "" || len(e.unstored) > 0 {
		why := e.diverged
		e.mu.Unlock()
		return fmt.Errorf("%w: %s; the next start replays the trail", ErrNoSnapshot, why)
	}
	if e.pos == 0 {
		e.mu.Unlock()
		return nil // nothing stored yet
	}
	snap := snapshot{Version: snapshotVersion, Seq: e.pos, Hash: hex.EncodeToString(e.posHash[:]),
		Rules: e.rulesFingerprintLocked(), Written: now.UTC(), State: e.stateLocked()}
	payload, err := json.Marshal(&snap)
	e.mu.Unlock()
	if err != nil {
		return fmt.Errorf("alert: cannot encode the detection snapshot at seq %d: %w", snap.Seq, err)
	}
	doc, err := json.Marshal(snapshotFile{Payload: payload, Sig: ed25519.Sign(e.cfg.SnapshotKey, signedSnapshot(payload))})
	if err != nil {
		return fmt.Errorf("alert: cannot encode the detection snapshot at seq %d: %w", snap.Seq, err)
	}
	dir := filepath.Dir(e.cfg.Snapshot)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("alert: cannot create the snapshot directory %q: %w", dir, err)
	}
	return durable.WriteFile(dir, filepath.Base(e.cfg.Snapshot), doc)
}

// signedSnapshot is what a snapshot signature covers.
func signedSnapshot(payload []byte) []byte {
	return append([]byte(domainSnapshot), payload...)
}

// RunSnapshots writes a snapshot every interval until ctx ends, and once
// more when it ends, reporting errors to onErr (which may be nil).
func (e *Engine) RunSnapshots(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := e.WriteSnapshot(now); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// loadSnapshot reads and checks Config.Snapshot; a nil snapshot comes
// with the reason it is not used ("" when there is none to use).
func (e *Engine) loadSnapshot() (*snapshot, string) {
	if e.cfg.Snapshot == "" || len(e.cfg.SnapshotKey) != ed25519.PrivateKeySize {
		return nil, ""
	}
	data, err := readSnapshotFile(e.cfg.Snapshot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ""
	}
	if err != nil {
		return nil, err.Error()
	}
	return e.checkSnapshot(data)
}

// readSnapshotFile reads a snapshot file, up to maxSnapshotBytes.
func readSnapshotFile(path string) ([]byte, error) {
	f, err := durable.OpenRegular(path, os.O_RDONLY, 0) // a FIFO here froze the collector's start in open(2)
	if err != nil {
		return nil, fmt.Errorf("cannot open snapshot %q: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSnapshotBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("cannot read snapshot %q: %w", path, err)
	case len(data) > maxSnapshotBytes:
		return nil, fmt.Errorf("snapshot %q is larger than %d bytes", path, maxSnapshotBytes)
	}
	return data, nil
}

// ResignSnapshot signs the snapshot in file again with to when from
// signed it at a chain position before until: the store's key was
// rotated from from to to by the entry at until
// (collector.Store.RotatedFrom), and that snapshot is the detection state
// of the trail up to a position the old key signed. Restore, which checks
// with the new key alone, then takes it, and the first start after a
// rotation replays what follows it rather than the whole trail. It is the
// start that rotates, holding both private keys (--previous-signing-key),
// that does it, and no later one (the caller's to check): Restore does not take a snapshot signed by a key rotated out, which
// may have leaked since. A snapshot missing, unreadable as a snapshot,
// signed by another key, or at or past until is left as it is (Restore
// says why it ignores it). It reports whether it signed the snapshot.
func ResignSnapshot(file string, from, to ed25519.PrivateKey, until uint64) (bool, error) {
	if until == 0 || len(from) != ed25519.PrivateKeySize || len(to) != ed25519.PrivateKeySize {
		return false, nil
	}
	data, err := readSnapshotFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("alert: %w", err)
	}
	var f snapshotFile
	var s struct {
		Seq uint64 `json:"seq"`
	}
	if json.Unmarshal(data, &f) != nil || !ed25519.Verify(from.Public().(ed25519.PublicKey), signedSnapshot(f.Payload), f.Sig) ||
		json.Unmarshal(f.Payload, &s) != nil || s.Seq == 0 || s.Seq >= until {
		return false, nil
	}
	doc, err := json.Marshal(snapshotFile{Payload: f.Payload, Sig: ed25519.Sign(to, signedSnapshot(f.Payload))})
	if err != nil {
		return false, fmt.Errorf("alert: cannot encode the detection snapshot at seq %d: %w", s.Seq, err)
	}
	if err := durable.WriteFile(filepath.Dir(file), filepath.Base(file), doc); err != nil {
		return false, fmt.Errorf("alert: cannot write the detection snapshot signed again: %w", err)
	}
	return true, nil
}

// checkSnapshot decodes a snapshot file and checks its signature, version
// and rules.
func (e *Engine) checkSnapshot(data []byte) (*snapshot, string) {
	var f snapshotFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Sprintf("snapshot %q is corrupt: %v", e.cfg.Snapshot, err)
	}
	pub := e.cfg.SnapshotKey.Public().(ed25519.PublicKey)
	if !ed25519.Verify(pub, signedSnapshot(f.Payload), f.Sig) {
		return nil, fmt.Sprintf("snapshot %q is not signed by the collector's key (edited or corrupt)", e.cfg.Snapshot)
	}
	var s snapshot
	if err := json.Unmarshal(f.Payload, &s); err != nil {
		return nil, fmt.Sprintf("snapshot %q is corrupt: %v", e.cfg.Snapshot, err)
	}
	h, err := hex.DecodeString(s.Hash)
	switch {
	case s.Version != snapshotVersion:
		return nil, fmt.Sprintf("snapshot %q has version %d, want %d", e.cfg.Snapshot, s.Version, snapshotVersion)
	case err != nil || len(h) != 32 || s.Seq == 0:
		return nil, fmt.Sprintf("snapshot %q names no chain position", e.cfg.Snapshot)
	}
	copy(s.hash[:], h)
	e.mu.Lock()
	rules := e.rulesFingerprintLocked()
	e.mu.Unlock()
	if s.Rules != rules {
		return nil, fmt.Sprintf("snapshot %q was made with other detection rules", e.cfg.Snapshot)
	}
	return &s, ""
}
