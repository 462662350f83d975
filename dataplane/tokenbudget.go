package dataplane

import (
	"hash/maphash"
	"net/netip"
	"time"

	"github.com/portcullis/portcullis/limiter"
)

// Defaults of Config.TokenFailures: a source address may fail 20 full
// token verifications a second, 40 at once.
const (
	defaultTokenFailures     = 20
	defaultTokenFailureBurst = 40
	// tokenBudgetKeys bounds the source addresses the budget tracks, at
	// most 72 bytes each (limiter.BytesPerKey): 1.1 MiB. A bucket is idle,
	// and dropped when its shard needs room, 50 ms after its last failure,
	// so filling the table takes 20 failures a second from each of 16384
	// addresses.
	tokenBudgetKeys = 1 << 14
)

// tokenBudget bounds what tokens that do not verify cost the sidecar, per
// source address (an IPv6 one by its /64, limiter.PeerKey). A token of a
// known issuer and kid with valid claims and a forged signature passes
// every cheap check and costs a full signature verification, 28 to 174 µs
// (BenchmarkJWTForged), and it is never cached, so the same forged token
// sent again costs it again: one address could keep the sidecar's cores
// busy verifying. A token the cache does not hold takes one unit of its
// source's budget before it is verified and gives it back when it
// verifies (or when its issuer's keys are unavailable, the issuer's
// fault, not the client's), so only failures spend the budget; with the
// budget spent, such a token is refused unverified with 429
// token_failures_limited until the bucket refills. Tokens verified before
// are answered from the cache and never touch the budget, so the clients
// already served from that address are unaffected. A cache of forged
// signatures would not help: changing one byte of the signature makes
// another token at no cost to the sender.
//
// A source's place in the table is keyed with a seed drawn at start
// (maphash): a new source whose shard is full of sources still owing is
// refused (fail closed), and with a hash anyone could compute an outsider
// holding an IPv6 /48 filled the 256 places of a victim's shard from /64s
// chosen for it, and had every new token of the victim refused
// (TestTokenBudgetShardCannotBeTargeted).
type tokenBudget struct {
	table *limiter.Table
	limit limiter.Limit
	seed  maphash.Seed
}

func newTokenBudget(l limiter.Limit) tokenBudget {
	if l.IsZero() {
		l = limiter.NewLimit(defaultTokenFailures, time.Second, defaultTokenFailureBurst)
	}
	return tokenBudget{table: limiter.NewTable(limiter.Config{MaxKeys: tokenBudgetKeys}), limit: l, seed: maphash.MakeSeed()}
}

// key is the budget's key for a source address: its /64 for IPv6
// (limiter.PeerKey), hashed with the budget's seed.
func (b *tokenBudget) key(a netip.Addr) uint64 {
	k := limiter.PeerKey(a).As16()
	return maphash.Bytes(b.seed, k[:])
}

// take takes one unit of key's budget at now (limiter clock).
func (b *tokenBudget) take(key uint64, now int64) limiter.Result {
	return b.table.AllowAt(key, b.limit, now)
}

// refund gives back the unit a token that did not fail took.
func (b *tokenBudget) refund(key uint64, now int64) {
	b.table.RefundAt(key, b.limit, 1, now)
}
