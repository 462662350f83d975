package audit

import (
	"testing"
	"time"
)

// After a slow spell of the collector, the buffers of the batches that
// waited are kept for the next one instead of left as garbage (issue 18),
// and let go down to keptSpares once no batch has waited for spareIdle.
func TestEmitterSpareBatches(t *testing.T) {
	e := &Emitter{free: make(chan *outBatch, spareBatches), sendCh: make(chan *outBatch, sendQueue)}
	var out []*outBatch
	for range sendQueue + 2 { // the collector is slow: batches queue up
		ob := e.getBatch()
		ob.data = sizedFor(ob.data, 1000)
		out = append(out, ob)
		select {
		case e.sendCh <- ob:
		default:
		}
	}
	for range e.sendCh { // the collector catches up
		if len(e.sendCh) == 0 {
			break
		}
	}
	for _, ob := range out {
		e.putBatch(ob)
	}
	if got, want := len(e.free), sendQueue+2; got != want {
		t.Fatalf("spare buffers after the slow spell: got %d, want %d", got, want)
	}
	for i := range sendQueue + 2 {
		if ob := e.getBatch(); cap(ob.data) < 1000 {
			t.Fatalf("batch %d after the slow spell got a new buffer, want a kept one", i)
		}
	}
	for _, ob := range out {
		e.putBatch(ob)
	}
	at := e.neededAt
	e.trimSpares(at.Add(spareIdle / 2))
	if got, want := len(e.free), sendQueue+2; got != want {
		t.Errorf("spares %v after the last wait: got %d, want %d", spareIdle/2, got, want)
	}
	e.trimSpares(at.Add(spareIdle + time.Second))
	if got := len(e.free); got != keptSpares {
		t.Errorf("spares %v after the last wait: got %d, want %d", spareIdle+time.Second, got, keptSpares)
	}
}
