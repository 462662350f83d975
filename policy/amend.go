package policy

import (
	"fmt"
	"maps"
	"time"
)

// KeyEdits are the key records put (by id) or deleted (nil) since the
// snapshot being amended was compiled or last amended. A record that no
// longer decodes is deleted: Compile would not see it either.
type KeyEdits map[string]*KeySpec

// Amend returns prev with the key records, revocations, suspensions and
// revision of live and edits in force: the snapshot Compile(doc, live')
// returns, where doc is the document prev was compiled from and live' is
// the live key records prev was compiled or amended with, edited by
// edits, without compiling the document and every key again. A
// revocation, a suspension or a new key must reach the request path at
// once, and at 100,000 keys a compile takes hundreds of milliseconds
// (BenchmarkSnapshotApply); Amend copies the key index at most once and
// builds new records only for the keys and clients whose state changes.
// prev is not modified: requests still holding it see it as it was.
// live.Keys is not read (edits says what changed), and live's maps are
// kept by the new snapshot, as Compile keeps them: the caller must not
// modify them afterwards.
func Amend(prev *Snapshot, live Live, edits KeyEdits) (*Snapshot, error) {
	if prev.digestBase == nil {
		return nil, fmt.Errorf("snapshot of revision %d was not compiled: nothing to amend", prev.Revision)
	}
	if len(edits) > 0 && prev.liveTwice {
		return nil, fmt.Errorf("snapshot of revision %d was compiled with two key records of one id: compile it again", prev.Revision)
	}
	for id, ks := range edits {
		if ks != nil && ks.ID != id {
			return nil, fmt.Errorf("key record %q holds key %q", id, ks.ID)
		}
	}
	s := *prev
	if len(edits) > 0 {
		var err error
		if s.keySums, err = prev.keySums.edit(edits); err != nil {
			return nil, err
		}
	}
	digest, err := digestLive(s.digestBase, s.keySums, live)
	if err != nil {
		return nil, err
	}
	s.Revision, s.Compiled, s.Digest = live.Revision, time.Now(), digest
	s.liveRevoked, s.liveSuspended = live.RevokedKeys, live.Suspended
	s.revokedJTIs = make(map[string]struct{}, len(live.RevokedJTIs))
	for jti, revoked := range live.RevokedJTIs {
		if revoked {
			s.revokedJTIs[jti] = struct{}{}
		}
	}

	moved := s.suspend(live.Suspended) // old client -> new client
	cloned := len(moved) > 0 || len(edits) > 0
	if cloned {
		s.keys = maps.Clone(prev.keys)
	}
	if len(moved) > 0 {
		for id, k := range s.keys {
			if c := moved[k.Client]; c != nil {
				nk := *k
				nk.Client = c
				s.keys[id] = &nk
			}
		}
	}
	if len(edits) > 0 {
		s.edit(edits, live.RevokedKeys)
	}
	revoke := func(id string) {
		k := s.keys[id]
		if k == nil {
			return
		}
		want := k.revokedBySpec || live.RevokedKeys[id]
		if k.Revoked == want {
			return
		}
		if !cloned {
			s.keys, cloned = maps.Clone(prev.keys), true
		}
		nk := *k
		nk.Revoked = want
		s.keys[id] = &nk
	}
	for id := range prev.liveRevoked {
		revoke(id)
	}
	for id := range live.RevokedKeys {
		revoke(id)
	}
	return &s, nil
}

// edit compiles the key records of edits into s, whose key index is its
// own, as Compile compiles live key records: a record that does not check
// or takes a document key's id is skipped and noted.
func (s *Snapshot) edit(edits KeyEdits, revoked map[string]bool) {
	var known map[string]bool
	skipped := maps.Clone(s.skipped)
	for id, ks := range edits {
		delete(skipped, id)
		if k := s.keys[id]; k != nil && k.live {
			delete(s.keys, id)
		}
		if ks == nil {
			continue
		}
		if known == nil {
			known = s.knownClients()
		}
		err := ks.check(known)
		if err == nil && s.keys[id] != nil {
			err = fmt.Errorf("duplicate key %q", id)
		}
		if err != nil {
			if skipped == nil {
				skipped = map[string]string{}
			}
			skipped[id] = err.Error()
			continue
		}
		k := compileKey(ks, s.Clients[ks.Client], revoked[id])
		k.live = true
		s.age(k)
		s.keys[id] = k
	}
	s.skipped, s.SkippedKeys = skipped, sortedNotes(skipped)
}

// suspend gives s new records for the clients whose suspension differs
// from suspended, and returns them by the record they replace.
func (s *Snapshot) suspend(suspended map[string]struct{}) map[*Client]*Client {
	var moved map[*Client]*Client
	for i, c := range s.ClientList {
		_, want := suspended[c.ID]
		if c.Suspended == want {
			continue
		}
		if moved == nil {
			moved = map[*Client]*Client{}
			s.ClientList = append([]*Client(nil), s.ClientList...)
		}
		nc := *c
		nc.Suspended = want
		moved[c] = &nc
		s.ClientList[i] = &nc
	}
	if moved == nil {
		return nil
	}
	s.Clients = make(map[string]*Client, len(s.ClientList))
	for _, c := range s.ClientList {
		s.Clients[c.ID] = c
	}
	mtls := make(map[string]*Client, len(s.mtls))
	for id, c := range s.mtls {
		if nc := moved[c]; nc != nil {
			c = nc
		}
		mtls[id] = c
	}
	s.mtls = mtls
	return moved
}

// Tighten returns prev with the revocations and suspensions of live in
// force beside those prev holds, at live's revision: it lifts none, and
// changes no key record (live.Keys is not read). It returns prev itself
// when live adds nothing. A source that lost its policy document has
// nothing to compile (etcdsync refuses such a state), yet a revocation
// written meanwhile must not wait for the next document.
func Tighten(prev *Snapshot, live Live) (*Snapshot, error) {
	u := Live{Revision: live.Revision, RevokedKeys: map[string]bool{}, RevokedJTIs: map[string]bool{}, Suspended: map[string]struct{}{}}
	added := false
	for id, revoked := range live.RevokedKeys {
		added = added || revoked && !prev.liveRevoked[id]
		u.RevokedKeys[id] = revoked
	}
	for jti, revoked := range live.RevokedJTIs {
		_, had := prev.revokedJTIs[jti]
		added = added || revoked && !had
		u.RevokedJTIs[jti] = revoked
	}
	for c := range live.Suspended {
		_, had := prev.liveSuspended[c]
		added = added || !had
		u.Suspended[c] = struct{}{}
	}
	if !added {
		return prev, nil
	}
	for id, revoked := range prev.liveRevoked {
		u.RevokedKeys[id] = u.RevokedKeys[id] || revoked
	}
	for jti := range prev.revokedJTIs {
		u.RevokedJTIs[jti] = true
	}
	for c := range prev.liveSuspended {
		u.Suspended[c] = struct{}{}
	}
	return Amend(prev, u, nil)
}
