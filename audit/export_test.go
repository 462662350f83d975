package audit

import (
	"testing"
	"time"
)

// The tests that run the emitter against a real collector are in package
// audit_test: the collector imports audit, so package audit's own tests
// cannot import it. These are the internals they use.
var (
	SampleRecord = sampleRecord
	FastConfig   = fastConfig
	EmitN        = emitN
	WaitFor      = waitFor
)

// waitFor polls cond until it holds or the deadline passes. The emitter
// delivers from its own goroutines over real HTTP, so the test waits on the
// outcome rather than sleeping a fixed time. The bound is only how long a
// failure takes to be told: TestEmitterBatchCapComesOff, whose narrow link
// has the collector answer 408 a request not read within 300 ms, took more
// than 20 s to deliver a round in a CI run beside other packages' race
// tests (11-15 s a run here alone).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fastConfig(url, spool string) EmitterConfig {
	return EmitterConfig{URL: url, SpoolDir: spool, BatchSize: 64, FlushInterval: 20 * time.Millisecond,
		Slots: 4096, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		RetryBudget: 30 * time.Millisecond, Service: "svc", Host: "h1", InstanceID: "inst"}
}

func emitN(t *testing.T, e *Emitter, n int) {
	t.Helper()
	for i := range n {
		r := sampleRecord(i)
		for !e.Emit(&r) {
			time.Sleep(time.Millisecond)
		}
	}
}

// PostBatch posts, as the sender does (postN), a batch of n records as
// the batcher encodes it; for tests that drive the batch cap with the
// sender idle.
func (e *Emitter) PostBatch(n int) string {
	var enc batchEncoder
	enc.res = Resource{Service: "svc", Host: "h", InstanceID: "i"}
	enc.begin([]byte("i-1"))
	for i := range n {
		r := sampleRecord(i)
		enc.add(&r)
	}
	switch e.postN(enc.finish(), n) {
	case sendOK:
		return "ok"
	case sendSlow:
		return "slow"
	}
	return "failed"
}

// BatchLen is the encoded size of a batch of n records.
func BatchLen(n int) int {
	var enc batchEncoder
	enc.res = Resource{Service: "svc", Host: "h", InstanceID: "i"}
	enc.begin([]byte("i-1"))
	for i := range n {
		r := sampleRecord(i)
		enc.add(&r)
	}
	return len(enc.finish())
}

// SetBatchCap sets the batch cap to c, last changed at set.
func (e *Emitter) SetBatchCap(c int, set time.Time) { e.batchCap.Store(int64(c)); e.capSet = set }

// CapWait is the wait before the cap is raised again, and when it last changed.
func (e *Emitter) CapWait() (time.Duration, time.Time) { return e.capWait, e.capSet }

// WithPostTimeout is cfg with each delivery attempt bounded by d instead
// of postTimeout (10 s).
func WithPostTimeout(cfg EmitterConfig, d time.Duration) EmitterConfig {
	cfg.postTimeout = d
	return cfg
}

// Twin is spooled batch data's twin (its id, its first record), as
// settleLate sends it.
func Twin(t *testing.T, data []byte) []byte {
	p, err := parseBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	return joinBatch(p.attrs, p.id, p.scopeHead, p.recs[:1])
}

// Foldable is foldable: whether the emitter folds r while aggregating.
var Foldable = foldable

// SetLostCap has e's spool remember at most n runs of lost batches (a
// test's stand-in for maxLostRuns, which takes thousands of batches).
func SetLostCap(e *Emitter, n int) {
	e.sp.mu.Lock()
	defer e.sp.mu.Unlock()
	e.sp.lost.cap = n
}
