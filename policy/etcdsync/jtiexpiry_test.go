package etcdsync_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestTokenRevocationExpires: a revocation of a token by its jti never
// expired, so revocations/ grew for ever and every sidecar held every
// token id ever revoked, long after the tokens had expired. A token's
// revocation may now carry an expiry, the token's exp plus the most clock
// skew an issuer may give (policy.MaxClockSkew): PruneRevocations deletes
// it etcdadmin.PruneGrace later, never a second before, and never a key's
// revocation, one without an expiry or a record that does not say for
// sure it has expired; the sidecars drop it with its record, not at their
// clock's reading of the expiry (TestLapsedRevocationInEtcdSurvivesAClockStepBack).
func TestTokenRevocationExpires(t *testing.T) {
	t.Parallel()
	cli, k, a := examplePushed(t)
	t0 := time.Now().UTC().Truncate(time.Second)
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	a = a.WithClock(now)
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: string(k), Now: now})
	ctx := context.Background()
	exp := t0.Add(10 * time.Minute)
	expires := exp.Add(policy.MaxClockSkew)
	if _, err := a.RevokeToken(ctx, "tok-1", exp, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeToken(ctx, "tok-2", time.Time{}, meta); err != nil { // exp unknown: never expires
		t.Fatal(err)
	}
	if _, err := a.RevokeKey(ctx, "acmehris1", meta); err != nil {
		t.Fatal(err)
	}
	// Records another writer put, claiming a past expiry: under another
	// id than their key, and one that does not decode. Both still revoke.
	past := `"expires":"2001-01-01T00:00:00Z"`
	if _, err := cli.Put(ctx, k.Revocation("jti:tok-3"), `{"id":"jti:tok-9",`+past+`}`); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, k.Revocation("jti:tok-4"), `{"id":"jti:tok-4",`+past); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, k.Revocation("jti:tok-1"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("reading the revocation of tok-1: %v", err)
	}
	var rec etcdsync.Revocation
	if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil || !rec.Expires.Equal(expires) {
		t.Fatalf("revocation of tok-1 expires %v (%v), want %v: the token's exp plus %v", rec.Expires, err, expires, policy.MaxClockSkew)
	}
	revoked := func(s *policy.Snapshot) string {
		var out []string
		for _, jti := range []string{"tok-1", "tok-2", "tok-3", "tok-4"} {
			if s.JTIRevoked(jti) {
				out = append(out, jti)
			}
		}
		if s.Key([]byte("acmehris1")).Revoked {
			out = append(out, "acmehris1")
		}
		return strings.Join(out, " ")
	}
	// change writes a revocation of its own, so that the Syncer builds a
	// snapshot at the time set, and waits for it.
	n := 10
	change := func() *policy.Snapshot {
		t.Helper()
		n++
		rev, err := a.RevokeToken(ctx, "other-"+string(rune('a'+n)), time.Time{}, meta)
		if err != nil {
			t.Fatal(err)
		}
		return r.atRevision(t, rev)
	}
	const all = "tok-1 tok-2 tok-3 tok-4 acmehris1"
	if got := revoked(change()); got != all {
		t.Fatalf("revoked %q, want %q", got, all)
	}

	clock.Store(expires.Add(-time.Nanosecond).UnixNano())
	if got := revoked(change()); got != all {
		t.Errorf("a nanosecond before the expiry: revoked %q, want %q", got, all)
	}
	if pruned, err := a.PruneRevocations(ctx, meta); err != nil || len(pruned) != 0 {
		t.Errorf("prune a nanosecond before the expiry: %v, %v; want none", pruned, err)
	}

	clock.Store(expires.UnixNano())
	if got := revoked(change()); got != all {
		t.Errorf("at the expiry: revoked %q, want %q (tok-1 in force while etcd holds it)", got, all)
	}
	if pruned, err := a.PruneRevocations(ctx, meta); err != nil || len(pruned) != 0 {
		t.Errorf("prune at the expiry: %v, %v; want none before the grace (%v) has passed", pruned, err, etcdadmin.PruneGrace)
	}
	clock.Store(expires.Add(etcdadmin.PruneGrace - time.Nanosecond).UnixNano())
	if pruned, err := a.PruneRevocations(ctx, meta); err != nil || len(pruned) != 0 {
		t.Errorf("prune a nanosecond before the grace has passed: %v, %v; want none", pruned, err)
	}
	clock.Store(expires.Add(etcdadmin.PruneGrace).UnixNano())
	pruned, err := a.PruneRevocations(ctx, meta)
	if err != nil || !slices.Equal(pruned, []string{"jti:tok-1"}) {
		t.Fatalf("prune once the grace has passed: %v, %v; want [jti:tok-1]", pruned, err)
	}
	if resp, err := cli.Get(ctx, k.RevocationsDir(), clientWithPrefix()...); err != nil || len(resp.Kvs) != 4+n-10 {
		t.Errorf("after the prune: %d revocation records (%v), want every other one kept", len(resp.Kvs), err)
	}
	events, err := cli.Get(ctx, string(k)+"/events/", clientWithPrefix()...)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, kv := range events.Kvs {
		found = found || strings.Contains(string(kv.Value), `"action":"token.revocation_expired","target":"jti:tok-1"`)
	}
	if !found {
		t.Error("no token.revocation_expired event for jti:tok-1")
	}
	if got, want := revoked(change()), "tok-2 tok-3 tok-4 acmehris1"; got != want {
		t.Errorf("after the prune: revoked %q, want %q (tok-1 dropped)", got, want)
	}
}
