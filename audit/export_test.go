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
// outcome rather than sleeping a fixed time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
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
