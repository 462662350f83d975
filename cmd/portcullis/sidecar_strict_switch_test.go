package main

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
)

// The emitter took its mode from the policy in force when the sidecar
// started (in etcd mode often none yet): a policy pushed later with
// audit.mode strict left it best_effort, so with the collector down and
// the spool full it dropped the batches of requests the data plane kept
// serving (Accepting stayed true): strict's "no record, no service" broken.
// Now the emitter follows the policy in force: switched to strict, it
// stops accepting once the spool cannot take a batch, and drops nothing.
func TestEmitterFollowsPolicyAuditMode(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close() // the collector is down: every connection is refused
	store := &policy.Store{}
	store.Swap(&policy.Snapshot{AuditStrict: false})
	f := sidecarFlags{collector: down, spoolDir: filepath.Join(t.TempDir(), "spool"), spoolMax: 256 << 10}
	sink, err := openAuditSink(f, store, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer sink.close()
	e := sink.sink.(*audit.Emitter)
	store.Swap(&policy.Snapshot{AuditStrict: true}) // a push switches the policy to strict

	rec := new(audit.Record)
	deadline := time.Now().Add(time.Minute)
	for i := 0; e.Accepting() && e.Stats().DroppedSpool == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("still accepting after a minute with the collector down: %+v", e.Stats())
		}
		rec.Time, rec.Status, rec.Decision = time.Now().UnixNano(), 200, audit.Allowed
		rec.SetRequestID([]byte("req"))
		next, ok := e.Swap(rec)
		if !ok {
			time.Sleep(time.Millisecond) // the slots are full: the data plane answers 503 here
			continue
		}
		rec = next
		rec.Reset()
		if i%256 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if st := e.Stats(); st.DroppedSpool != 0 {
		t.Errorf("policy strict, spool full: %d records of served requests dropped (%+v); want none dropped and Accepting false", st.DroppedSpool, st)
	}
}
