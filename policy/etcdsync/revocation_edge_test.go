package etcdsync_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// TestLapsedRevocationInEtcdSurvivesAClockStepBack: a snapshot left out
// every token revocation lapsed on the sidecar's clock, and was rebuilt
// only on a change in etcd. A sidecar whose clock ran fast (here by two
// hours) dropped a revocation etcd still holds; once NTP stepped the clock
// back, the token's exp was ahead again and nothing put the revocation
// back until the next write: the revoked token got in. A revocation etcd
// holds is now in force until it is pruned, whatever the clock says; the
// token it names is refused as expired anyway once its exp passes.
func TestLapsedRevocationInEtcdSurvivesAClockStepBack(t *testing.T) {
	t.Parallel()
	cli, k, a := examplePushed(t)
	ctx := context.Background()
	var clock atomic.Int64 // the sidecar's clock, two hours fast
	clock.Store(time.Now().Add(2 * time.Hour).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	rev, err := a.RevokeToken(ctx, "tok-1", time.Now().Add(time.Hour), meta)
	if err != nil {
		t.Fatal(err)
	}
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: string(k), StateDir: t.TempDir(), Now: now, Logger: zerolog.New(&logBuffer{})})
	s := r.atRevision(t, rev)
	clock.Store(time.Now().UnixNano()) // NTP steps the clock back; nothing changes in etcd
	if !s.JTIRevoked("tok-1") || !r.store.Load().JTIRevoked("tok-1") {
		t.Fatal("a token revocation etcd holds, lapsed on a clock two hours fast, is not in force once the clock is stepped back before the token's exp: the revoked token gets in")
	}
}

// TestRevokeTokenOfAURIJTI: keys revoke refused a token id holding '/',
// though the sidecars accept any jti and some issuers make URIs of
// them: such a token could not be revoked and was valid until its exp.
// It is revoked on every sidecar now; an id holding a control character,
// which the sidecars refuse in a token, is refused by name.
func TestRevokeTokenOfAURIJTI(t *testing.T) {
	t.Parallel()
	cli, k, a := examplePushed(t)
	ctx := context.Background()
	const jti = "https://idp.example/tokens/1"
	rev, err := a.RevokeToken(ctx, jti, time.Now().Add(time.Hour), meta)
	if err != nil {
		t.Fatalf("revoke a token whose jti is a URI: %v", err)
	}
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: string(k), Logger: zerolog.New(&logBuffer{})})
	if !r.atRevision(t, rev).JTIRevoked(jti) {
		t.Fatalf("the token %q is not revoked on the sidecar", jti)
	}
	if _, err := a.RevokeToken(ctx, "tok\n1", time.Time{}, meta); err == nil || !strings.Contains(err.Error(), "control character") {
		t.Errorf("revoke a token id holding a newline: %v, want an error naming the control character", err)
	}
}
