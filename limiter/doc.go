// Package limiter is the sidecar's rate-limit engine: exact token buckets
// in a bounded, sharded Table, and per-key in-flight caps in Concurrency.
//
// # Token buckets
//
// A Limit is Events per Per with a Burst. Table.AllowAt(key, limit, now)
// takes one token from key's bucket; TakeNAt takes n, RefundAt gives n
// back, and TakeAt takes one token from several buckets all or nothing
// (refunding the ones that gave when a later one denies). Keys are
// uint64: hash the client key once (xxhash) and pass the hash.
//
// Limits are passed on every call, never stored. When a policy changes a
// key's limit, its bucket keeps its state and continues under the new rate
// and burst, as empty as it was: empty to a fraction f of its capacity, it
// is empty to f of the new one, and earns back at the new rate. A push
// never hands out a free burst (acme, having used its 10 at 100/s, is let
// in again an hour later under 1/h burst 10) nor withholds one (a client
// drained at 1/h and raised to 100/s gets a token in 10 ms, not in 10
// hours), and the shares of a global limit, which change rate and burst
// together, keep the debt as it is. A bucket remembers its limit's
// capacity for this. A Limit made with Since(at) converts as of at, the
// time the policy setting it was applied, so the time until the bucket's
// next take goes at the new rate; without it, at that take. A bucket
// keeps the latest Since it has counted under: a take with an older Limit
// (a request still holding the tables of the policy before) converts at
// its own time, and the next take under the newer Limit converts back as
// of that take, so a stale request never lets the time since go at the
// old rate.
//
// The zero Limit means "no limit": takes are admitted and no bucket is
// created. NewLimit with events <= 0 or per <= 0 returns a Limit that
// denies everything (fail closed), with RetryAfter Forever; so does a take
// of more tokens than the burst.
//
// # Algorithm and exactness
//
// A bucket is the GCRA form of a token bucket: a single atomic int64, the
// theoretical arrival time (TAT) of the next token, updated with
// compare-and-swap. A take never locks. A take of n is admitted when
// TAT + n*interval - now <= burst*interval, and then moves TAT there.
//
// Time inside a bucket is counted in units of 1/scale ns, where scale is
// Events/gcd(Events, Per in ns). The emission interval Per/Events is then a
// whole number of units, and every operation is integer arithmetic with
// no rounding: from a new (full) bucket, over any interval T, exactly
// burst + floor(Events*T/Per) takes are admitted, for 1/min as for 1e6/s
// or 999983/s. A full bucket keeps its partial progress toward the next
// token (it never holds more than Burst whole tokens) so that this also
// holds on an integer-nanosecond clock. RetryAfter is exact: the take is
// denied 1ns before it and admitted at it. Remaining and Reset feed the
// RateLimit header fields, Limit the RateLimit-Policy.
//
// Each bucket counts from a base time; when now drifts further than
// 2^61/scale ns from the base (73 years at scale 1, 38 minutes at scale
// 999983) or a take comes with a Limit of another rate, the bucket is
// replaced under the shard lock by a rebased copy (exact for a rebase,
// rounding the debt carried up by under one unit for a rate change).
// This is the only path of a take on an existing key that locks or
// allocates.
//
// # Time
//
// Time is a parameter: the *At methods take now from Now, monotonic
// nanoseconds since process start; Allow is shorthand for AllowAt(Now()).
// A now older than what a bucket has seen never admits extra: it counts
// as the bucket's base time at the latest, and TAT never moves backwards
// except by refunds.
//
// # Memory bound
//
// A Table holds at most Config.MaxKeys buckets, enforced per shard as
// MaxKeys/Shards. A bucket that is full again (TAT <= now) is idle: it can
// be dropped without changing any decision. When a new key lands in a full
// shard, the shard evicts its idle buckets. If none is idle, the new key
// is denied (fail closed: a new key never bypasses its limit) with
// RetryAfter the time until the first bucket in the shard goes idle, and
// the shard does not sweep again before then, so a flood of new keys
// costs one sweep. Each tracked key costs at most BytesPerKey (72) bytes:
// a 48-byte bucket (a whole Go size class) and an 8-byte slot at a load
// factor of 3/8 to 3/4, measured at about 66 bytes with a million keys.
//
// # Concurrency
//
// A Table and a Concurrency are safe for concurrent use. Lookups of
// existing keys are lock-free (an atomic load of the shard's
// open-addressing table); inserting a key takes the shard's mutex. Shards
// are padded to 128 bytes against false sharing. Takes on existing keys
// do not allocate.
//
// Concurrency caps in-flight requests per key. Acquire takes a slot or,
// with queue > 0, waits up to maxWait in a first-come-first-served queue
// per key, so a burst from one tenant waits instead of failing while
// other keys are untouched. A slot that ends passes to the first waiter
// only while the key's slots in flight are within the newest cap an
// Acquire brought (the one with the latest since; an older one, from a
// request holding the policy before a push, is ignored): when a policy
// lowers the cap, the count in flight comes down to it even with the
// queue busy. Queued counts the callers waiting. Callers must `defer c.Release(key)` right
// after a successful Acquire so that a panic cannot leak the slot. A key
// is tracked from its first Acquire, and keeps its newest cap when idle
// (nothing in flight or waiting), so an older cap never comes back on an
// idle key either. At most MaxKeys keys are tracked (per shard,
// MaxKeys/64): a new key in a full shard has the shard's idle keys
// forgotten, and with none idle, Acquire for it returns false (fail
// closed).
package limiter
