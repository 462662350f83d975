package jwt

import (
	"context"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"time"
)

// Verifier verifies JWT access tokens against a fixed set of issuers and
// caches the results. All methods are safe for concurrent use.
type Verifier struct {
	cfg     Config
	issuers map[string]*issuerState // by Issuer.URL; read-only after New
	remote  []*issuerState
	cache   *cache
	stats   counters

	ctx    context.Context // ends at Close; bounds every fetch
	cancel context.CancelFunc
	wg     sync.WaitGroup // fetches and refresh loops

	// launched is set by Launch: first fetches belong to the background
	// from then on, so a token of an issuer never fetched is refused at
	// once instead of waiting for a fetch on the request (issue 13).
	launched atomic.Bool

	mu      sync.Mutex // guards the following fields
	closed  bool
	started bool
}

// New validates cfg and returns a Verifier. Errors wrap ErrConfig and
// name the issuer and field. Inline JWKS are parsed here; JWKS URLs are
// first fetched by Start, or on the first token that needs them.
func New(cfg Config) (*Verifier, error) {
	cfg = cfg.withDefaults()
	v := &Verifier{issuers: make(map[string]*issuerState, len(cfg.Issuers))}
	issuers := make([]Issuer, len(cfg.Issuers))
	ids := make(map[string]bool, len(cfg.Issuers))
	for i, in := range cfg.Issuers {
		var err error
		if issuers[i], err = prepare(in); err != nil {
			return nil, err
		}
		if err := v.addIssuer(&issuers[i], ids); err != nil {
			return nil, err
		}
	}
	cfg.Issuers = issuers
	v.cfg = cfg
	var err error
	if v.cache, err = newCache(cfg.CacheEntries, cfg.CacheBytes); err != nil {
		return nil, fmt.Errorf("jwt: cannot create cache of %d entries, %d bytes: %w", cfg.CacheEntries, cfg.CacheBytes, err)
	}
	v.ctx, v.cancel = context.WithCancel(context.Background())
	return v, nil
}

func (v *Verifier) addIssuer(iss *Issuer, ids map[string]bool) error {
	if ids[iss.ID] {
		return fmt.Errorf("%w: issuer %q: duplicate id", ErrConfig, iss.ID)
	}
	if _, dup := v.issuers[iss.URL]; dup {
		return fmt.Errorf("%w: issuer %q: duplicate url %q", ErrConfig, iss.ID, iss.URL)
	}
	is, err := newIssuerState(iss)
	if err != nil {
		return err
	}
	ids[iss.ID] = true
	v.issuers[iss.URL] = is
	if is.remote {
		v.remote = append(v.remote, is)
	}
	return nil
}

// Start is Launch, then a wait for the first fetch of every URL issuer
// (each bounded by the HTTP client's timeout) or for ctx. Calls after the
// first do nothing.
func (v *Verifier) Start(ctx context.Context) {
	if v.Launch(ctx) {
		_ = v.WaitFirst(ctx)
	}
}

// Launch starts the first JWKS fetch of every URL issuer and then the
// background refreshes, every RefreshInterval until ctx ends or Close is
// called, without waiting for any of them. From then on a token of an
// issuer whose keys were never fetched is refused with KeysUnavailable at
// once (Pending lists such issuers), and a failed first fetch is retried
// in the background after a second, then two, doubling up to
// RefreshInterval. Launch reports whether it started anything: calls
// after the first, or after Close, do nothing.
func (v *Verifier) Launch(ctx context.Context) bool {
	v.mu.Lock()
	first := !v.started && !v.closed
	v.started = true
	v.mu.Unlock()
	if !first {
		return false
	}
	v.launched.Store(true)
	for _, is := range v.remote {
		c := v.fetchAsync(is)
		is.first.Store(c)
		if v.track() {
			go v.refreshLoop(ctx, is, c)
		}
	}
	return true
}

// WaitFirst waits until the first fetch Launch started for every URL
// issuer without keys has ended, successfully or not, or until ctx ends,
// and returns ctx's error in that case.
func (v *Verifier) WaitFirst(ctx context.Context) error {
	for _, is := range v.remote {
		c := is.first.Load()
		if c == nil || is.keys.Load() != nil {
			continue
		}
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Pending returns the ids of the URL issuers whose keys were never
// fetched: their tokens are refused with KeysUnavailable.
func (v *Verifier) Pending() []string {
	var ids []string
	for _, is := range v.remote {
		if is.keys.Load() == nil {
			ids = append(ids, is.iss.ID)
		}
	}
	return ids
}

// Withdrawn returns the ids of the URL issuers whose last fetched JWKS
// held no usable key: their tokens are refused with UnknownKey.
func (v *Verifier) Withdrawn() []string {
	var ids []string
	for _, is := range v.remote {
		if ks := is.keys.Load(); ks != nil && len(ks.all) == 0 {
			ids = append(ids, is.iss.ID)
		}
	}
	return ids
}

// Adopt takes over the keys old holds for every URL issuer of v with the
// same JWKS URL, so that a verifier rebuilt for a policy change serves
// those issuers at once, before its own first fetch. Call it before
// Launch and before v is used.
func (v *Verifier) Adopt(old *Verifier) {
	if old == nil {
		return
	}
	for _, is := range v.remote {
		for _, o := range old.remote {
			if o.iss.JWKSURL != is.iss.JWKSURL {
				continue
			}
			if ks := o.keys.Load(); ks != nil {
				is.keys.Store(ks)
				is.fetchedAt.Store(o.fetchedAt.Load())
			}
			break
		}
	}
}

// Refresh fetches the JWKS of every URL issuer now, joining fetches
// already in flight, and waits for them or for ctx. It returns the fetch
// errors joined; the keys held for a failed issuer stay in use.
func (v *Verifier) Refresh(ctx context.Context) error {
	calls := make([]*fetchCall, len(v.remote))
	for i, is := range v.remote {
		calls[i] = v.fetchAsync(is)
	}
	errs := make([]error, 0, len(calls))
	for _, c := range calls {
		select {
		case <-c.done:
			errs = append(errs, c.err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// track registers a background goroutine unless the verifier is closed.
func (v *Verifier) track() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return false
	}
	v.wg.Add(1)
	return true
}

// Close stops background refreshes, cancels fetches in flight, waits for
// them and releases the cache. Verify keeps working after Close, without
// the cache and without fetching.
func (v *Verifier) Close() {
	v.mu.Lock()
	already := v.closed
	v.closed = true
	v.mu.Unlock()
	if already {
		return
	}
	v.cancel()
	v.wg.Wait()
	v.cache.close()
}

// Stats returns a snapshot of the verifier's counters.
func (v *Verifier) Stats() Stats { return v.stats.snapshot() }

// WaitCache waits until cache writes made so far are applied. The cache
// applies writes asynchronously; tests and benchmarks call WaitCache so
// that the next Verify of the same token is a hit.
func (v *Verifier) WaitCache() { v.cache.wait() }

// Verify verifies token at time now and returns its claims with OK, or
// nil and the reason it was refused. A token verified before is answered
// from the cache without allocating, after its bytes, exp and nbf and the
// issuer's key state are checked again. Verify may wait up to RefetchWait
// when the token's key is unknown (see the package doc); it never logs or
// keeps token except as a cache entry.
func (v *Verifier) Verify(token []byte, now time.Time) (*Claims, Status) {
	if c, st, hit := v.Cached(token, now); hit {
		return c, st
	}
	return v.VerifyUncached(token, now)
}

// Cached answers token from the cache alone, as Verify does for a token
// verified before; hit is false when the cache does not hold it, and
// then only VerifyUncached can tell. It does not allocate. A caller that
// budgets full verifications (the sidecar's per-source budget of failed
// ones) calls Cached, then VerifyUncached when the budget allows.
func (v *Verifier) Cached(token []byte, now time.Time) (c *Claims, st Status, hit bool) {
	if c, st, hit = v.lookup(token, now); hit {
		v.stats.hits.Add(1)
		v.stats.byStatus[st].Add(1)
	}
	return c, st, hit
}

// Current reports whether the key its token was verified with may still
// be used for c at now: the issuer's key set has lost or changed no key
// since (a refresh that drops a key bumps the issuer's epoch), and it is
// still fresh (fetched keys: MaxStale after the last good fetch). What the
// cache checks before it answers a lookup, for a caller holding c: the data
// plane, for a request that waited after its token was verified.
func (v *Verifier) Current(c *Claims, now time.Time) bool {
	return c.is == nil || c.is.epoch.Load() == c.epoch && c.is.fresh(now, v.cfg.MaxStale)
}

// VerifyUncached runs every check on token, signature included, without
// consulting the cache, and caches an OK result: what Verify does on a
// cache miss. It costs a signature verification (BenchmarkJWTForged:
// 28-174 µs) for a token that passes the cheap checks.
func (v *Verifier) VerifyUncached(token []byte, now time.Time) (*Claims, Status) {
	r := v.verify(token, now)
	v.stats.misses.Add(1)
	v.stats.byStatus[r.status].Add(1)
	if r.status != OK {
		return nil, r.status
	}
	v.remember(token, &r, now)
	return r.claims, OK
}

// result is the outcome of a full verification.
type result struct {
	claims *Claims
	is     *issuerState
	epoch  uint64 // is.epoch before the key lookup
	status Status
}

// verify runs every check on token without the cache. Cheap checks run
// first so that garbage costs no signature verification and cannot
// trigger a JWKS refetch unless its claims would otherwise pass.
func (v *Verifier) verify(raw []byte, now time.Time) result {
	if len(raw) > v.cfg.MaxTokenBytes {
		return result{status: Oversized}
	}
	t, st := parse(raw)
	if st != OK {
		return result{status: st}
	}
	is, st := v.issuerFor(t)
	if st != OK {
		return result{status: st}
	}
	c, st := is.claimsFrom(t.members)
	if st == OK {
		st = firstFail(is.checkTimes(c, now), is.checkLifetime(c, now))
	}
	if st != OK {
		return result{status: st}
	}
	r := result{claims: c, is: is, epoch: is.epoch.Load()}
	c.is, c.epoch = is, r.epoch
	if r.status = v.checkSignature(is, t, now); r.status == OK {
		c.Fingerprint = tokenFingerprint(raw, t)
	}
	return r
}

func firstFail(sts ...Status) Status {
	for _, st := range sts {
		if st != OK {
			return st
		}
	}
	return OK
}

// issuerFor finds the configured issuer of t and checks that it allows
// t's algorithm and type.
func (v *Verifier) issuerFor(t *token) (*issuerState, Status) {
	iss, ok := jsonString(t.members["iss"])
	if !ok {
		return nil, BadIssuer
	}
	is := v.issuers[iss]
	if is == nil {
		return nil, BadIssuer
	}
	if is.allowed&t.header.alg.bit() == 0 {
		return nil, BadAlgorithm
	}
	if !is.typeOK(&t.header) || (len(is.iss.Types) == 0 && idTokenOnly(t.members)) {
		return nil, BadType
	}
	return is, OK
}

// idTokenClaims are the claims OpenID Connect Core 1.0 defines for an ID
// token and RFC 9068 §2.2 does not carry over to access tokens: nonce
// (§2, sent back to the client that asked for the ID token), at_hash and
// c_hash (§3.1.3.6, §3.3.2.11: the ID token's binding to an access token
// or code issued beside it). auth_time, acr and amr are not among them:
// RFC 9068 §2.2.1 lets access tokens carry those too.
var idTokenClaims = [...]string{"nonce", "at_hash", "c_hash"}

// idTokenOnly reports whether claims carry a claim only an ID token has.
// Without Types, an issuer accepts typ "JWT" or none, which is how most
// providers type their ID tokens as well as their access tokens; an ID
// token is meant for the client that asked for it (its aud is often that
// client's id), and one presented as an access token is refused
// (RFC 9068 §4, RFC 8725 §3.11: a JWT of one kind must not pass as one
// of another).
func idTokenOnly(claims map[string]json.RawMessage) bool {
	for _, name := range idTokenClaims {
		if _, ok := claims[name]; ok {
			return true
		}
	}
	return false
}

// typeOK checks the typ header: against Types when configured, else it
// must be absent, "JWT" or "at+jwt" (RFC 9068 §2.1).
func (is *issuerState) typeOK(h *header) bool {
	if len(is.iss.Types) == 0 {
		return !h.hasTyp || h.typ == "jwt" || h.typ == "at+jwt"
	}
	for _, t := range is.iss.Types {
		if h.hasTyp && h.typ == t {
			return true
		}
	}
	return false
}

// checkSignature finds the keys (refetching once, rate-limited, for an
// unknown kid or stale keys) and verifies t's signature against the first
// maxKIDKeys of them that fit its alg: OK when one verifies it. When none
// does, it refetches the same way and tries the new set's keys.
func (v *Verifier) checkSignature(is *issuerState, t *token, now time.Time) Status {
	if t.header.alg == algHS256 {
		return boolStatus(verifySignature(algHS256, nil, is.iss.HMACSecret, t.input, t.sig), BadSignature)
	}
	held := is.keys.Load() // before keysFor: a set installed since is one keys may not come from
	keys, st := v.keysFor(is, &t.header, now)
	if st != OK {
		return st
	}
	if verifyAny(keys, t) {
		return OK
	}
	// A provider rotating a key may publish the new one under the old
	// kid: keys fetched before that hold only the old key of the kid, and
	// the new key's tokens fail until the next refresh (RefreshInterval).
	// So a failure under a kid refetches as an unknown kid does, at most
	// once per MinRefetch per issuer, and tries the keys of the new set.
	if !t.header.hasKID || !is.remote || !v.refetch(is, now) || is.keys.Load() == held {
		return BadSignature
	}
	if keys, st = is.keys.Load().find(&t.header); st != OK {
		return st
	}
	return boolStatus(verifyAny(keys, t), BadSignature)
}

// verifyAny reports whether t's signature verifies under one of the first
// maxKIDKeys keys of keys that fit its alg.
func verifyAny(keys []*key, t *token) bool {
	tried := 0
	for _, k := range keys {
		if tried == maxKIDKeys {
			return false
		}
		if !k.fits(t.header.alg) {
			continue
		}
		if verifySignature(t.header.alg, k, nil, t.input, t.sig) {
			return true
		}
		tried++
	}
	return false
}

func boolStatus(ok bool, fail Status) Status {
	if ok {
		return OK
	}
	return fail
}

func (v *Verifier) keysFor(is *issuerState, h *header, now time.Time) ([]*key, Status) {
	if is.remote && v.launched.Load() && is.fetchedAt.Load() == 0 {
		return nil, KeysUnavailable // first fetch not done: the background owns it, a request never waits
	}
	if !is.fresh(now, v.cfg.MaxStale) && !(is.remote && v.refetch(is, now) && is.fresh(now, v.cfg.MaxStale)) {
		return nil, KeysUnavailable
	}
	keys, st := is.keys.Load().find(h)
	if st == UnknownKey && is.remote && v.refetch(is, now) {
		keys, st = is.keys.Load().find(h)
	}
	return keys, st
}

// fingerprint identifies a token in audit records without revealing it:
// the first 16 bytes of the SHA-256 of its bytes.
func fingerprint(raw []byte) [16]byte {
	sum := sha256.Sum256(raw)
	return [16]byte(sum[:16])
}

// p256HalfN is half the order of P-256, the bound of a low-S signature.
var p256HalfN = new(big.Int).Rsh(elliptic.P256().Params().N, 1)

// tokenFingerprint is the fingerprint of the verified token t (raw): of
// raw itself, except for an ES256 signature whose s is above half the
// curve order, which is fingerprinted in its low-S spelling (r, n-s). Both
// (r, s) and (r, n-s) verify, so anyone holding an ES256 token can spell
// it a second way, with the same claims; the audit trail names a token by
// its fingerprint, and the twin's uses went in under another one
// (TestES256TwinSharesFingerprint). Only the other algorithms' signatures
// have one spelling (Ed25519 and RSA verifiers refuse s >= L or n, and
// base64url is strict). It runs on a full verification only, never on a
// cache hit.
func tokenFingerprint(raw []byte, t *token) [16]byte {
	if t.header.alg != algES256 || len(t.sig) != 64 {
		return fingerprint(raw)
	}
	s := new(big.Int).SetBytes(t.sig[32:])
	if s.Cmp(p256HalfN) <= 0 {
		return fingerprint(raw)
	}
	low := make([]byte, 64)
	copy(low, t.sig[:32])
	s.Sub(elliptic.P256().Params().N, s).FillBytes(low[32:])
	canon := make([]byte, 0, len(t.input)+1+b64.EncodedLen(64))
	canon = b64.AppendEncode(append(append(canon, t.input...), '.'), low)
	return fingerprint(canon)
}
