package etcdsync

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// errNoPolicy refuses a state without a policy document: an etcd that
// lost everything (wiped, or replaced and not yet pushed to again). Its
// live records are not compiled with it: applied under the last good
// document, its empty revocations and suspensions would lift those in
// force. Its revocations and suspensions are added to those in force
// instead (tighten).
var errNoPolicy = errors.New("no policy document in etcd; the snapshot in force stays, with its revocations and suspensions, and those written meanwhile are added")

// apply compiles the applied state and swaps it into the Store; save also
// writes what is in force to the last-known-good file. A state that does
// not compile is refused: the old snapshot stays, the failure is counted
// once, logged once and kept for LastError. The live records of a refused
// state still apply under the last good document (see compile), and the
// file then holds that document with them, never the refused one: a
// restart during an etcd outage must find a policy it can serve. A state
// without a document saves the last state saved with the revocations and
// suspensions it adds (tightened).
func (s *Syncer) apply(save bool) {
	snap, err := s.compile(s.st)
	if err != nil {
		s.refuse(err)
	} else {
		s.accept()
	}
	if snap == nil {
		if save && errors.Is(err, errNoPolicy) {
			// Nothing in force (a start on the file that etcd answered
			// without a document): the file still takes the revocations
			// and suspensions read, for a restart while etcd is down.
			s.saveState(s.tightened())
		}
		return
	}
	if cur := s.store.Load(); cur != nil && err != nil && cur.Digest == snap.Digest {
		return // the fallback compiled what is already in force
	}
	s.reportInvalid(append(s.invalid, snap.SkippedKeys...), snap.Revision)
	if save {
		s.store.Swap(snap)
	} else {
		s.store.SwapHeard(snap, s.lkgSaved) // the last-known-good file's, not confirmed now
	}
	s.ready.Store(true)
	s.lastApply.Store(time.Now().UnixNano())
	if s.cfg.StateDir != "" { // a copy of 100,000 key records is milliseconds
		var inForce *State
		switch {
		case errors.Is(err, errNoPolicy):
			inForce = s.tightened()
		case err != nil:
			inForce = s.st.clone()
			inForce.Policy = s.goodSrc // the document snap was compiled from
		default:
			inForce = s.st.clone()
		}
		if save {
			s.saveState(inForce)
		} else {
			s.saved = inForce // from the file: what a state without a document tightens
		}
	}
	s.mark()
}

// tightened returns the state the last-known-good file holds for the
// state applied, which has no policy document: the last state saved (or
// read from the file) with the revocations and suspensions of the state
// applied added, as tighten puts them in force, at its revision. The key
// records wait for a document, as in the snapshot. Before, the file kept
// the last state saved, and a restart while etcd was down lifted what
// the sidecar had put in force since
// (TestLastKnownGoodSavedWithoutPolicyDocument). nil: no state saved.
func (s *Syncer) tightened() *State {
	if s.saved == nil {
		return nil
	}
	t := s.saved.clone()
	if t.Revocations == nil {
		t.Revocations = map[string]string{}
	}
	if t.Suspensions == nil {
		t.Suspensions = map[string]string{}
	}
	maps.Copy(t.Revocations, s.st.Revocations)
	maps.Copy(t.Suspensions, s.st.Suspensions)
	t.Revision, t.ClusterID, t.Witness = s.st.Revision, s.st.ClusterID, s.st.Witness
	return t
}

// saveState offers st, the state in force, to the last-known-good writer
// with the Syncer's held revocations and suspensions and witnesses, and
// keeps it as the last state saved. nil saves nothing.
func (s *Syncer) saveState(st *State) {
	if st == nil || s.cfg.StateDir == "" {
		return
	}
	st.Held, st.HeldSuspensions, st.Prefix = maps.Clone(s.held), maps.Clone(s.heldSusp), string(s.k)
	st.EarlierWitnesses = s.earlierWitnesses(st.Witness)
	s.saved = st // never changed after: the writer reads it
	s.offer(s.saves, st)
}

// compile compiles st. If the document in st is refused but the last good
// document compiles with st's live records, that snapshot is returned with
// the error: revocations and suspensions must not wait for a fixed policy.
// A state with no document at all is refused (errNoPolicy): its
// revocations and suspensions are added to those in force, and none is
// lifted (tighten).
// Invalid key, revocation and suspension records never refuse a state: they
// are left out (or fail closed) and kept in s.invalid for reportInvalid.
// A state that differs from the one last compiled only in its key records,
// revocations and suspensions is not compiled but amended (see amend).
func (s *Syncer) compile(st *State) (*policy.Snapshot, error) {
	now := s.cfg.Now()
	if snap := s.amend(st, now); snap != nil {
		return snap, nil
	}
	s.base = amendBase{}
	st.keyEdits = nil // every record is compiled
	s.compiles.Add(1)
	live := policy.Live{Revision: st.Revision}
	var keysBad map[string]string
	live.Keys, keysBad = st.liveKeys(&s.decoded)
	if keysBad == nil {
		keysBad = map[string]string{}
	}
	s.invalid = append(st.status(now, &live, s.held), slices.Collect(maps.Values(keysBad))...)
	slices.Sort(s.invalid)
	if st.Policy == "" {
		return s.tighten(live), errNoPolicy
	}
	var err error
	if doc, derr := s.parse(st.Policy); derr != nil {
		err = derr
	} else if snap, cerr := policy.Compile(doc, live); cerr != nil {
		err = cerr
	} else {
		s.goodDoc, s.goodSrc = doc, st.Policy
		s.warnPush(doc, st)
		s.base = amendBase{st: st, policy: st.Policy, snap: snap, keysBad: keysBad}
		return snap, nil
	}
	if s.goodDoc == nil {
		return nil, err
	}
	snap, gerr := policy.Compile(s.goodDoc, live)
	if gerr != nil {
		return nil, err
	}
	return snap, err
}

// tighten returns the snapshot in force with the revocations and
// suspensions of live added (policy.Tighten), for a state without a
// policy document: it is refused, so that a wiped etcd lifts nothing, but
// a revocation written while the document is missing (deleted by
// mistake) must not wait for the next push. nil: nothing in force, or
// nothing to add.
func (s *Syncer) tighten(live policy.Live) *policy.Snapshot {
	cur := s.store.Load()
	if cur == nil {
		return nil
	}
	snap, err := policy.Tighten(cur, live)
	if err != nil {
		s.cfg.Logger.Error().Err(err).Int64("revision", live.Revision).Msg("cannot put the revocations and suspensions of a state without a policy document in force")
		return nil
	}
	return snap
}

// maxEditsAmended is the number of key records always amended in; above
// it, more than a quarter of the records are compiled instead. Amending
// a record costs 1.3-2x what compiling it does (an outside review, on a
// loaded machine: a re-read in which all 100,000 records changed took
// 0.8-1.2 s amended, 0.5-0.7 s compiled), since Amend pays for the
// digest buckets, the index and the decode record by record.
const maxEditsAmended = 1024

// amendBase is the snapshot a Syncer compiled last from its own document,
// and what it was compiled from.
type amendBase struct {
	st      *State // the State compiled, which the watch goes on changing
	policy  string // st.Policy when compiled
	snap    *policy.Snapshot
	keysBad map[string]string // the invalid key records of st by id, left out of snap
}

// amend returns the snapshot of st when st is the State last compiled or
// amended (or one read whole that install found to differ from it) and
// only its key records, revocations and suspensions have changed since:
// the last snapshot with them in force (policy.Amend), a few milliseconds
// at 100,000 keys, where a compile takes hundreds. Otherwise it returns
// nil and st is compiled.
func (s *Syncer) amend(st *State, now time.Time) *policy.Snapshot {
	b := &s.base
	if b.snap == nil || b.st != st || b.policy != st.Policy || s.decoded == nil {
		return nil
	}
	if len(st.keyEdits) > max(maxEditsAmended, len(st.Keys)/4) {
		return nil // a restored cluster, a mass rotation: a compile is faster
	}
	edits := st.takeKeyEdits(s.decoded, b.keysBad)
	live := policy.Live{Revision: st.Revision}
	bad := st.status(now, &live, s.held)
	snap, err := policy.Amend(b.snap, live, edits)
	if err != nil {
		return nil // compiled instead, from every record
	}
	s.edited.Add(int64(len(edits)))
	s.invalid = append(bad, slices.Collect(maps.Values(b.keysBad))...)
	slices.Sort(s.invalid)
	b.snap = snap
	return snap
}

// reportInvalid logs and counts each invalid record of the state applied
// that was not reported before: one line per bad record, not one per
// recompile. A record fixed in one applied state and broken again in a
// later one is reported again; one broken and fixed between two applied
// states (watch responses applied together, see handle) never took
// effect and is not reported.
func (s *Syncer) reportInvalid(problems []string, rev int64) {
	seen := make(map[string]bool, len(problems))
	for _, p := range problems {
		seen[p] = true
		if s.reported[p] {
			continue
		}
		s.invalidTotal.Add(1)
		s.cfg.Logger.Warn().Str("problem", p).Int64("revision", rev).Msg("invalid record skipped; the other records apply")
	}
	s.reported = seen
	s.invalidNow.Store(int64(len(problems)))
}

// parse loads text, remembering the last result: the document changes far
// less often than keys and revocations.
func (s *Syncer) parse(text string) (*policy.Document, error) {
	if text != s.docSrc || (s.doc == nil && s.docErr == nil) {
		s.docSrc = text
		s.doc, s.docErr = policy.Load(s.k.Policy(), []byte(text))
	}
	return s.doc, s.docErr
}

// warnPush logs, once for each revision of the policy it compiles, the
// problems policy.CheckPush finds in its document: rules added after
// documents breaking them had loaded, which Load keeps taking so that a
// fleet rolled onto a new binary still serves (see CheckPush), and which
// push refuses. The file-mode sidecar logs them at each load; before, an
// etcd-mode one served such a document without a word
// (TestSyncerLogsPushRules). The messages name routes, tenants and sinks
// by their names, never a secret (a Slack URL written in the clear is
// named by its sink).
func (s *Syncer) warnPush(doc *policy.Document, st *State) {
	if st.PolicyRevision == s.warnedRev && st.Policy == s.warnedSrc {
		return
	}
	s.warnedRev, s.warnedSrc = st.PolicyRevision, st.Policy
	var perr *policy.Error
	if !errors.As(policy.CheckPush(s.k.Policy(), []byte(st.Policy), doc), &perr) {
		return
	}
	for _, p := range perr.Problems {
		s.cfg.Logger.Warn().Int64("policy_revision", st.PolicyRevision).Int("line", p.Line).Str("problem", p.Message).
			Msg("the policy breaks a rule policy push enforces; served as loaded, mend it")
	}
}

// refuse records a state that did not compile.
func (s *Syncer) refuse(err error) {
	msg := err.Error()
	short := RefusalText(msg, "portcullis policy get | portcullis policy validate -")
	s.mu.Lock()
	s.lastErr = short
	s.mu.Unlock()
	if msg == s.lastBad {
		return
	}
	s.lastBad = msg
	if !errors.Is(err, errNoPolicy) {
		// The Store's count first: a reader that sees the Syncer's sees
		// it (TestBadPolicyRefused read the two between, under CI load).
		s.store.Fail()
		s.failures.Add(1)
	}
	s.cfg.Logger.Error().Str("error", short).Int64("revision", s.st.Revision).Msg("policy refused; keeping the policy in force")
}

// maxRefusalBytes bounds the text of a refusal that LastError (and so
// /readyz, at every probe) and the log line hold.
const maxRefusalBytes = 8 << 10

// RefusalText is msg, a refusal's text, cut after its last whole line
// within 8 KiB, saying how much was cut and that lister (a command) lists
// every problem. A document written by hand with a problem on every line
// made megabytes of text, in one log line that log shippers split or
// drop: the refusal could go unseen. The Syncer's refusals
// (TestRefusalTextBounded) and the file-mode sidecar's refused reloads
// (TestReloadRefusalLogBounded) are cut so.
func RefusalText(msg, lister string) string {
	if len(msg) <= maxRefusalBytes {
		return msg
	}
	cut := msg[:maxRefusalBytes]
	if i := strings.LastIndexByte(cut, '\n'); i > 0 {
		cut = cut[:i]
	}
	rest := msg[len(cut):]
	return fmt.Sprintf("%s\n... and %d more bytes, %d more lines (%s lists every problem)",
		strings.ToValidUTF8(cut, ""), len(rest), strings.Count(rest, "\n"), lister)
}

// accept clears the refusal after a state compiled.
func (s *Syncer) accept() {
	s.lastBad = ""
	s.mu.Lock()
	s.lastErr = ""
	s.mu.Unlock()
}

// offer hands v to a background loop without blocking: a value still
// waiting is replaced, since only the latest matters.
func (s *Syncer) offer(ch chan *State, v *State) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// mark tells the member loop the applied revision changed.
func (s *Syncer) mark() {
	select {
	case s.marks <- struct{}{}:
	default:
	}
}

// digest returns the hex digest of the snapshot in force, or "".
func (s *Syncer) digest() string {
	if snap := s.store.Load(); snap != nil {
		return hex.EncodeToString(snap.Digest[:])
	}
	return ""
}
