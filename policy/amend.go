package policy

import (
	"fmt"
	"maps"
	"time"
)

// Amend returns prev with the revocations, suspensions and revision of
// live in force: the snapshot Compile(doc, live) returns, when doc and
// live.Keys are the document and key records prev was compiled from,
// without compiling the document and every key again. A revocation or a
// suspension is what must reach the request path at once, and at 100,000
// keys a compile takes hundreds of milliseconds (BenchmarkSnapshotApply);
// Amend copies the key index at most once and builds new records only for
// the keys and clients whose state changes. prev is not modified: requests
// still holding it see it as it was. live.Keys is not read, and live's
// maps are kept by the new snapshot, as Compile keeps them: the caller
// must not modify them afterwards.
func Amend(prev *Snapshot, live Live) (*Snapshot, error) {
	if prev.digestBase == nil {
		return nil, fmt.Errorf("snapshot of revision %d was not compiled: nothing to amend", prev.Revision)
	}
	digest, err := digestLive(prev.digestBase, live)
	if err != nil {
		return nil, err
	}
	s := *prev
	s.Revision, s.Compiled, s.Digest = live.Revision, time.Now(), digest
	s.liveRevoked, s.liveSuspended = live.RevokedKeys, live.Suspended
	s.revokedJTIs = make(map[string]struct{}, len(live.RevokedJTIs))
	for jti, revoked := range live.RevokedJTIs {
		if revoked {
			s.revokedJTIs[jti] = struct{}{}
		}
	}

	moved := s.suspend(live.Suspended) // old client -> new client
	cloned := len(moved) > 0
	if cloned {
		s.keys = maps.Clone(prev.keys)
		for id, k := range s.keys {
			if c := moved[k.Client]; c != nil {
				nk := *k
				nk.Client = c
				s.keys[id] = &nk
			}
		}
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
