package etcdsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/policy"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// State is the raw policy state of a deployment at one revision: what a
// Syncer compiles, what the last-known-good file holds and what etcdadmin
// validates a change against. Values are kept as read from etcd; etcd
// never holds a secret, so neither does this.
type State struct {
	Revision    int64             `json:"revision"`
	Policy      string            `json:"policy"`
	Keys        map[string]string `json:"keys"`        // id -> JSON policy.KeySpec
	Revocations map[string]string `json:"revocations"` // id or jti:<id> -> JSON Revocation
	Suspensions map[string]string `json:"suspensions"` // client -> JSON Suspension
	// Held are the revocations a Syncer keeps in force over etcd gone
	// back in revision (Syncer.hold), by id; they are in Revocations too.
	// Only the last-known-good file carries them across a restart.
	Held map[string]string `json:"held,omitempty"`
	// HeldSuspensions are the suspensions a Syncer keeps in force over
	// etcd gone back in revision, by client, until their until
	// (Syncer.hold); they are in Suspensions too.
	HeldSuspensions map[string]string `json:"held_suspensions,omitempty"`
	// Prefix is the deployment prefix the last-known-good file was saved
	// for; a Syncer of another prefix refuses the file ("" in a file of a
	// version that wrote none, and in a State read from etcd).
	Prefix string `json:"prefix,omitempty"`
	// ClusterID is the id of the etcd cluster the state was read from (the
	// response header's), 0 when unknown (a file of a version that wrote
	// none). A Syncer that finds another cluster id than the one of the
	// state applied treats it as etcd going back: a cluster replaced by
	// another, or restored under a new id, may be past the revision
	// applied and still lack revocations in force.
	ClusterID uint64 `json:"cluster,omitempty"`
	// Witness is the last write of the state applied (a put of one of
	// its keys), which a Syncer reads etcd's history for to find etcd
	// gone back once written past the revision applied (witness.go); the
	// last-known-good file carries it across a restart.
	Witness Witness `json:"witness,omitzero"`
	// EarlierWitnesses are, in the last-known-good file, the witnesses
	// a Syncer had yet to read etcd's history for (witnesses: check, and
	// the first write applied since), when not Witness: Witness may be a
	// write of a restored etcd the watch applied before a confirmation
	// found etcd gone back, which its history holds, and a restart that
	// read only it took the restored state for a later one
	// (TestRestoredWriteSeenBeforeRestartKeepsRevocations).
	EarlierWitnesses []Witness `json:"earlier_witnesses,omitempty"`

	PolicyRevision int64 `json:"-"` // mod revision of the policy key (0: none); ReadState sets it

	// fromFile marks a State read from the last-known-good file, whose
	// suspensions lapse at their until: the file cannot see the leases
	// that take them away. In a State read from etcd a suspension holds
	// while its record is there, whatever the clock of the host that
	// wrote its until.
	fromFile bool

	// keyEdits holds the ids of the key records put or deleted in this
	// State since the Syncer applying it last compiled or amended it: the
	// Syncer amends its last snapshot with those records (Syncer.amend)
	// instead of compiling every record again.
	keyEdits map[string]struct{}
}

func newState() *State {
	return &State{Keys: map[string]string{}, Revocations: map[string]string{}, Suspensions: map[string]string{}}
}

// clone returns a deep copy of st.
func (st *State) clone() *State {
	c := *st
	c.Keys, c.Revocations, c.Suspensions, c.Held = maps.Clone(st.Keys), maps.Clone(st.Revocations), maps.Clone(st.Suspensions), maps.Clone(st.Held)
	c.HeldSuspensions = maps.Clone(st.HeldSuspensions)
	c.keyEdits = nil // the Syncer's, of st
	return &c
}

// equal reports whether st and o hold the same records (at any revision).
func (st *State) equal(o *State) bool {
	return st.Policy == o.Policy && maps.Equal(st.Keys, o.Keys) &&
		maps.Equal(st.Revocations, o.Revocations) && maps.Equal(st.Suspensions, o.Suspensions)
}

// stateOps are the reads of a whole state; one Txn runs them at one revision
// (the prefix also holds events and history, which grow without bound and
// are not read here).
func stateOps(k Layout) []clientv3.Op {
	return []clientv3.Op{
		clientv3.OpGet(k.Policy()),
		clientv3.OpGet(k.KeysDir(), clientv3.WithPrefix()),
		clientv3.OpGet(k.RevocationsDir(), clientv3.WithPrefix()),
		clientv3.OpGet(k.SuspensionsDir(), clientv3.WithPrefix()),
	}
}

// ReadState reads the whole state of the deployment at one revision. The
// read is linearizable (no op of stateOps is serializable): its revision
// is at least every revision etcd had committed when it started, so a
// Syncer that finds it lower than what it applied knows etcd went back.
func ReadState(ctx context.Context, cli *clientv3.Client, k Layout) (*State, error) {
	resp, err := cli.Txn(ctx).Then(stateOps(k)...).Commit()
	if err != nil {
		return nil, fmt.Errorf("cannot read policy state under %q: %w", string(k), err)
	}
	st := newState()
	st.Revision, st.ClusterID = resp.Header.Revision, resp.Header.ClusterId
	for _, r := range resp.Responses {
		for _, kv := range r.GetResponseRange().Kvs {
			if string(kv.Key) == k.Policy() {
				st.PolicyRevision = kv.ModRevision
			}
			if st.apply(k, string(kv.Key), string(kv.Value), true) && kv.ModRevision > st.Witness.Revision {
				st.Witness = Witness{Key: string(kv.Key), Revision: kv.ModRevision}
			}
		}
	}
	return st, nil
}

// apply records a put (or, with put false, a delete) of key and reports
// whether key belongs to the state.
func (st *State) apply(k Layout, key, value string, put bool) bool {
	if key == k.Policy() {
		st.Policy = value
		if !put {
			st.Policy = ""
		}
		return true
	}
	m, name := st.slot(k, key)
	if m == nil {
		return false
	}
	if put {
		m[name] = value
	} else {
		delete(m, name)
	}
	if strings.HasPrefix(key, string(k)+keysDir) {
		if st.keyEdits == nil {
			st.keyEdits = map[string]struct{}{}
		}
		st.keyEdits[name] = struct{}{}
	}
	return true
}

// slot returns the map holding key and the record name, or nil.
func (st *State) slot(k Layout, key string) (map[string]string, string) {
	for _, d := range [...]struct {
		dir string
		m   map[string]string
	}{{keysDir, st.Keys}, {revocationsDir, st.Revocations}, {suspensionsDir, st.Suspensions}} {
		if name, ok := strings.CutPrefix(key, string(k)+d.dir); ok && name != "" {
			return d.m, name
		}
	}
	return nil, ""
}

// keyCache maps a key record's id to its raw JSON and the record decoded
// from it. It is keyed by the id, not the JSON: at 100,000 records,
// hashing each record's JSON twice per recompile cost more than decoding
// the one that changed (BenchmarkSnapshotApply, revoke).
type keyCache map[string]cachedKey

// cachedKey is a decoded key record and the JSON it came from.
type cachedKey struct {
	raw  string
	spec policy.KeySpec
}

// decode returns the key record raw decodes to for id: the cached one when
// id's record was raw before, else decodeKey's.
func (c keyCache) decode(id, raw string) (policy.KeySpec, error) {
	if k, ok := c[id]; ok && k.raw == raw {
		return k.spec, nil
	}
	return decodeKey(id, raw)
}

// Live decodes the records into policy.Live at now, as a Syncer does, and
// returns it with a line for each invalid record (see live).
func (st *State) Live(now time.Time) (policy.Live, []string) { return st.live(now, nil) }

// live decodes the records into policy.Live and returns it with the
// records that are invalid, each described in one line without its value.
// An invalid record never stops the others (issue 13): a key record that
// does not decode, or whose id is not its name, is left out (it
// authenticates nothing); a revocation that does not decode still revokes
// the id it is named by, and a suspension that does not decode still
// suspends its client, since failing closed is safer. Key records decode
// through cache (nil: none), since a Syncer recompiles on every change and
// most records have not changed.
func (st *State) live(now time.Time, cache *keyCache) (policy.Live, []string) {
	l := policy.Live{Revision: st.Revision}
	var badKeys map[string]string
	l.Keys, badKeys = st.liveKeys(cache)
	bad := append(slices.Collect(maps.Values(badKeys)), st.status(now, &l, st.Held)...)
	slices.Sort(bad)
	return l, bad
}

// status decodes the revocations and suspensions into l at now and
// returns the invalid ones (see live). A token's revocation lapsed at now
// is left out only when held, etcd no longer having it: one etcd holds
// stays in force until it is pruned, whatever the clock says. A
// sidecar's clock that ran fast dropped it, and once stepped back the
// token's exp was ahead again with nothing to rebuild the snapshot until
// the next write: the revoked token got in
// (TestLapsedRevocationInEtcdSurvivesAClockStepBack).
func (st *State) status(now time.Time, l *policy.Live, held map[string]string) []string {
	l.RevokedKeys, l.RevokedJTIs, l.Suspended = map[string]bool{}, map[string]bool{}, map[string]struct{}{}
	var bad []string
	for id, v := range st.Revocations {
		r, err := decodeRevocation(v)
		if err != nil {
			bad = append(bad, fmt.Sprintf("revocation record %q is invalid (it still revokes): %v", id, err))
		} else if _, ok := held[id]; ok && r.ID == id && r.Lapsed(now) {
			continue // the token has expired on every sidecar, and etcd has no record to refuse it by
		}
		if jti, ok := strings.CutPrefix(id, JTIPrefix); ok {
			l.RevokedJTIs[jti] = true
		} else {
			l.RevokedKeys[id] = true
		}
	}
	for client, v := range st.Suspensions {
		s, err := DecodeSuspension(v)
		if err != nil {
			bad = append(bad, fmt.Sprintf("suspension record %q is invalid (the client stays suspended): %v", client, err))
		} else if _, held := st.HeldSuspensions[client]; (st.fromFile || held) && !s.Until.IsZero() && !now.Before(s.Until) {
			continue // lapsed since the file was saved (see fromFile), or held past its until (see Syncer.hold)
		}
		l.Suspended[client] = struct{}{}
	}
	return bad
}

// liveKeys decodes the key records, sorted by id, and describes the ones
// left out, by id. The ids are sorted, not the records: 16-byte strings
// move faster than 144-byte records.
func (st *State) liveKeys(cache *keyCache) ([]policy.KeySpec, map[string]string) {
	var bad map[string]string
	next := make(keyCache, len(st.Keys))
	ids := make([]string, 0, len(st.Keys))
	var old keyCache
	if cache != nil {
		old = *cache
	}
	for id, v := range st.Keys {
		spec, err := old.decode(id, v)
		if err != nil {
			if bad == nil {
				bad = map[string]string{}
			}
			bad[id] = invalidKey(id, err)
			continue
		}
		next[id] = cachedKey{raw: v, spec: spec}
		ids = append(ids, id)
	}
	if cache != nil {
		*cache = next // keeps only the records still present
	}
	slices.Sort(ids)
	var out []policy.KeySpec
	if len(ids) > 0 {
		out = make([]policy.KeySpec, len(ids))
	}
	for i, id := range ids {
		out[i] = next[id].spec
	}
	return out, bad
}

// keyDiff returns the ids of the key records that differ between a and b
// (nil: none), in one pass over b when no record of a was deleted.
func keyDiff(a, b map[string]string) map[string]struct{} {
	var d map[string]struct{}
	added := 0
	for id, v := range b {
		w, ok := a[id]
		if ok && w == v {
			continue
		}
		if d == nil {
			d = map[string]struct{}{}
		}
		d[id] = struct{}{}
		if !ok {
			added++
		}
	}
	if len(a) == len(b)-added {
		return d // every record of a is in b
	}
	for id := range a {
		if _, ok := b[id]; !ok {
			if d == nil {
				d = map[string]struct{}{}
			}
			d[id] = struct{}{}
		}
	}
	return d
}

// invalidKey describes the key record id that err left out.
func invalidKey(id string, err error) string {
	return fmt.Sprintf("key record %q is invalid (it authenticates nothing until fixed): %v", id, err)
}

// takeKeyEdits decodes the key records edited in st since the Syncer took
// them last (State.keyEdits), through cache, which it keeps current:
// each record put, or nil for one deleted or that does not decode. bad
// is the invalid key records by id, kept current the same way.
func (st *State) takeKeyEdits(cache keyCache, bad map[string]string) policy.KeyEdits {
	if len(st.keyEdits) == 0 {
		return nil
	}
	edits := make(policy.KeyEdits, len(st.keyEdits))
	for id := range st.keyEdits {
		delete(bad, id)
		v, ok := st.Keys[id]
		if !ok {
			delete(cache, id)
			edits[id] = nil
			continue
		}
		spec, err := cache.decode(id, v)
		if err != nil {
			delete(cache, id)
			bad[id] = invalidKey(id, err)
			edits[id] = nil
			continue
		}
		cache[id] = cachedKey{raw: v, spec: spec}
		edits[id] = &spec
	}
	st.keyEdits = nil
	return edits
}

// DecodeKey decodes the key record named id as a Syncer does; a record
// it refuses authenticates nothing on the sidecars (see decodeKey).
func DecodeKey(id, v string) (policy.KeySpec, error) { return decodeKey(id, v) }

// decodeKey decodes the key record named id. A field the record should
// not hold makes it invalid, as in the policy document: a record written
// by hand with an expiry spelt "expires" would otherwise authenticate
// with none. So does a member named twice or spelt in another case
// (checkKeyMembers), as a duplicate key of the document does.
func decodeKey(id, v string) (policy.KeySpec, error) {
	var spec policy.KeySpec
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return policy.KeySpec{}, fmt.Errorf("cannot decode: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return policy.KeySpec{}, errors.New("cannot decode: data after the record")
	}
	if err := checkKeyMembers(v); err != nil {
		return policy.KeySpec{}, fmt.Errorf("cannot decode: %w", err)
	}
	if spec.ID != id {
		return policy.KeySpec{}, fmt.Errorf("holds id %q", spec.ID)
	}
	return spec, nil
}

// decodeRevocation decodes a revocation record.
func decodeRevocation(v string) (Revocation, error) {
	var r Revocation
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return Revocation{}, fmt.Errorf("cannot decode: %w", err)
	}
	return r, nil
}

// decodeSuspension decodes a suspension record.
func DecodeSuspension(v string) (Suspension, error) {
	var s Suspension
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return Suspension{}, fmt.Errorf("cannot decode: %w", err)
	}
	return s, nil
}

// DecodeMember decodes a member record; it must name its pod.
func DecodeMember(v []byte) (Member, error) {
	var m Member
	if err := json.Unmarshal(v, &m); err != nil {
		return Member{}, fmt.Errorf("cannot decode: %w", err)
	}
	if m.Pod == "" {
		return Member{}, errors.New("names no pod")
	}
	return m, nil
}
