package etcdadmin

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// ClientInfo is a client of the policy in etcd with its suspension, if any.
type ClientInfo struct {
	policy.ClientSpec
	Suspension *etcdsync.Suspension `json:"suspension,omitempty"` // set while the client is suspended
}

// ListClients returns the clients of the policy in etcd, in document
// order, each with its current suspension.
func (a *Admin) ListClients(ctx context.Context) ([]ClientInfo, error) {
	_, doc, err := a.current(ctx)
	if err != nil {
		return nil, err
	}
	sus, err := a.Suspensions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ClientInfo, len(doc.Clients))
	for i, c := range doc.Clients {
		out[i].ClientSpec = c
		if s, ok := sus[c.ID]; ok {
			out[i].Suspension = &s
		}
	}
	return out, nil
}

// Fleet is what the sidecars of a deployment have applied, against the
// policy pushed to etcd.
type Fleet struct {
	PolicyRevision int64        `json:"policy_revision"`   // mod revision of the pushed policy; 0 without one
	PolicyDigest   string       `json:"policy_digest"`     // SHA-256 of the pushed document, hex, as in the policy history
	Members        []MemberInfo `json:"members"`           // the live sidecars, by pod name
	Invalid        []string     `json:"invalid,omitempty"` // a line for each member record left out as invalid
}

// MemberInfo is a live sidecar's member record and whether the policy it
// enforces is the pushed document.
type MemberInfo struct {
	etcdsync.Member
	Current bool `json:"current"` // its PolicyDigest is the pushed document's
}

// ListMembers returns every live sidecar (its leased member record) with
// its applied revision and policy digest, and whether that digest is the
// pushed document's; a member record that does not decode is left out and
// named in Invalid.
func (a *Admin) ListMembers(ctx context.Context) (Fleet, error) {
	var f Fleet
	doc, rev, err := a.GetPolicy(ctx)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return f, err
	}
	if err == nil {
		sum := sha256.Sum256(doc)
		f.PolicyRevision, f.PolicyDigest = rev, hex.EncodeToString(sum[:])
	}
	ms, bad, err := a.MemberRecords(ctx)
	if err != nil {
		return f, err
	}
	f.Invalid = bad
	slices.SortFunc(ms, func(x, y etcdsync.Member) int { return cmp.Compare(x.Pod, y.Pod) })
	f.Members = make([]MemberInfo, len(ms))
	for i, m := range ms {
		f.Members[i] = MemberInfo{Member: m, Current: f.PolicyDigest != "" && m.PolicyDigest == f.PolicyDigest}
	}
	return f, nil
}

// successor returns the id of the key that replaced k in its latest
// rotation, from the key.rotate events since k became valid, or "".
func (a *Admin) successor(ctx context.Context, k KeyInfo) (string, error) {
	since, _ := time.Parse(time.RFC3339, k.NotBefore)
	evs, err := a.storedEvents(ctx, since, time.Time{}) // key.rotate only: no approval uses
	slices.SortStableFunc(evs, func(x, y Event) int { return cmp.Compare(x.Revision, y.Revision) })
	if err != nil {
		return "", err
	}
	next := ""
	for _, e := range evs {
		if e.Action == ActionKeyRotate && e.Target == k.ID {
			next = e.Details["new_key"]
		}
	}
	return next, nil
}
