package audit

import "time"

const (
	// spareBatches is how many batch buffers an Emitter keeps for reuse:
	// one for each batch that may wait for the sender, one being filled
	// and one being sent. A buffer dropped after a collector's slow spell
	// and allocated again at the next one was the sidecar's last garbage
	// per batch once delivery made none (issue 18): garbage is what lets
	// the heap grow to twice its live size before a collection.
	spareBatches = sendQueue + 2
	// keptSpares is how many spare buffers stay once no batch has waited
	// for the sender for spareIdle: a collector that keeps up needs two.
	keptSpares = 2
	spareIdle  = 30 * time.Second
	// maxSpare is the largest buffer kept, so that one outsized batch does
	// not stay pinned.
	maxSpare = 4 << 20
)

// getBatch returns a spare batch buffer or a new one. Batcher only.
func (e *Emitter) getBatch() *outBatch {
	if len(e.sendCh) > 0 {
		e.neededAt = time.Now()
	}
	select {
	case ob := <-e.free:
		return ob
	default:
		return &outBatch{}
	}
}

// putBatch keeps ob's buffer for a later batch when there is room.
func (e *Emitter) putBatch(ob *outBatch) {
	if cap(ob.data) > maxSpare {
		return
	}
	select {
	case e.free <- ob:
	default:
	}
}

// trimSpares lets the spare buffers beyond keptSpares go once no batch has
// waited for the sender for spareIdle, so that a slow spell of the
// collector does not keep its buffers live (and the heap's goal twice
// that) for good. Batcher only.
func (e *Emitter) trimSpares(now time.Time) {
	if len(e.free) <= keptSpares || now.Sub(e.neededAt) < spareIdle {
		return
	}
	for len(e.free) > keptSpares {
		select {
		case <-e.free:
		default:
			return
		}
	}
}

// sizedFor returns buf, or a new buffer when buf holds fewer than n
// bytes, with an eighth of headroom so that the next, slightly larger,
// batch fits without growing it.
func sizedFor(buf []byte, n int) []byte {
	if cap(buf) < n {
		return make([]byte, 0, n+n/8)
	}
	return buf
}
