package jwt

import (
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
)

// cache holds verified tokens, keyed by the xxhash of the token. Each
// entry keeps a copy of the token, compared in constant time on every
// hit (equalCT), so an xxhash collision can never authenticate. Comparing
// a stored copy was chosen over comparing SHA-256 digests: hashing the
// presented token costs as much as a byte-wise compare, and the
// vectorised compare is several times cheaper than either
// (BenchmarkHitCompare in jwt_timing_test.go).
type cache struct {
	c *ristretto.Cache[uint64, *entry]
}

// entry is one verified token. It is immutable once stored.
type entry struct {
	token  []byte // private copy of the token
	claims *Claims
	is     *issuerState
	epoch  uint64 // is.epoch at verification; a change means a key was dropped
}

func newCache(entries int64) (*cache, error) {
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *entry]{
		NumCounters:        entries * 10, // ristretto's advice: 10x the entries
		MaxCost:            entries,
		BufferItems:        64,
		IgnoreInternalCost: true, // cost is in entries, not bytes
		KeyToHash:          func(k uint64) (uint64, uint64) { return k, 0 },
	})
	if err != nil {
		return nil, err
	}
	return &cache{c: c}, nil
}

func (c *cache) wait()  { c.c.Wait() }
func (c *cache) close() { c.c.Close() }

// lookup answers Verify from the cache. hit is false when the token is
// not cached, differs from the cached bytes, was cached before one of its
// issuer's keys was dropped, or its issuer's keys are older than
// MaxStale; the caller then verifies it in full. exp, nbf and iat are
// checked again on a hit.
func (v *Verifier) lookup(token []byte, now time.Time) (c *Claims, st Status, hit bool) {
	if len(token) > v.cfg.MaxTokenBytes {
		return nil, OK, false
	}
	e, ok := v.cache.c.Get(xxhash.Sum64(token))
	if !ok || !equalCT(e.token, token) {
		return nil, OK, false
	}
	if e.epoch != e.is.epoch.Load() || !e.is.fresh(now, v.cfg.MaxStale) {
		return nil, OK, false // the full path refetches or refuses
	}
	if st := e.is.checkTimes(e.claims, now); st != OK {
		return nil, st, true
	}
	return e.claims, OK, true
}

// remember caches a verified token until its exp (plus skew), so that an
// entry can never outlive the token.
func (v *Verifier) remember(token []byte, r *result, now time.Time) {
	exp := time.Unix(r.claims.Expiry, 0).Add(r.is.iss.ClockSkew)
	ttl := exp.Sub(now)
	if ttl <= 0 {
		return
	}
	e := &entry{token: append([]byte(nil), token...), claims: r.claims, is: r.is, epoch: r.epoch}
	v.cache.c.SetWithTTL(xxhash.Sum64(token), e, 1, ttl)
}
