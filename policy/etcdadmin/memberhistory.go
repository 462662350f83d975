package etcdadmin

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// MemberTrail is one live sidecar's member record through time: each
// version etcd still holds, oldest first, back to the first that names an
// applied revision before since (or the record's creation, or the oldest
// etcd kept).
type MemberTrail struct {
	Pod      string
	Versions []etcdsync.Member
	// Compacted says etcd had compacted the older versions: the oldest
	// version is then an upper bound of when the sidecar applied what it
	// names, not the moment.
	Compacted bool
}

// Applied returns the first version that names an applied revision at or
// after rev: the sidecar's acknowledgement of the change at rev.
func (t MemberTrail) Applied(rev int64) (etcdsync.Member, bool) {
	i := slices.IndexFunc(t.Versions, func(m etcdsync.Member) bool { return m.Revision >= rev })
	if i < 0 {
		return etcdsync.Member{}, false
	}
	return t.Versions[i], true
}

// MemberTrails returns the trail of every live member record (the leased
// records of the sidecars that are up), walking each record's history
// back from now through etcd's revisions until a version names an applied
// revision before since. Members publish their applied revision on every
// change they apply (etcdsync), so the first version at or after a
// revision is when that sidecar applied it: the propagation proof of a
// revocation (issue 15). The second result names records that do not
// decode.
func (a *Admin) MemberTrails(ctx context.Context, since int64) ([]MemberTrail, []string, error) {
	resp, err := a.cli.Get(ctx, a.k.MembersDir(), clientv3.WithPrefix())
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read members under %q: %w", a.k.MembersDir(), err)
	}
	var out []MemberTrail
	var bad []string
	for _, kv := range resp.Kvs {
		m, err := etcdsync.DecodeMember(kv.Value)
		if err != nil {
			bad = append(bad, fmt.Sprintf("member record %q is invalid: %v", kv.Key, err))
			continue
		}
		t, err := a.memberTrail(ctx, string(kv.Key), kv.ModRevision, m, since)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, t)
	}
	return out, bad, nil
}

// memberTrail walks the versions of the member record at key back from
// m, written at modRev.
func (a *Admin) memberTrail(ctx context.Context, key string, modRev int64, m etcdsync.Member, since int64) (MemberTrail, error) {
	t := MemberTrail{Pod: m.Pod, Versions: []etcdsync.Member{m}}
	for m.Revision >= since && modRev > 1 {
		resp, err := a.cli.Get(ctx, key, clientv3.WithRev(modRev-1))
		if errors.Is(err, rpctypes.ErrCompacted) {
			t.Compacted = true
			break
		}
		if err != nil {
			return t, fmt.Errorf("cannot read member record %q at revision %d: %w", key, modRev-1, err)
		}
		if len(resp.Kvs) == 0 {
			break // the record was created (the sidecar started) after
		}
		if m, err = etcdsync.DecodeMember(resp.Kvs[0].Value); err != nil {
			break
		}
		modRev = resp.Kvs[0].ModRevision
		t.Versions = append(t.Versions, m)
	}
	slices.Reverse(t.Versions)
	return t, nil
}
