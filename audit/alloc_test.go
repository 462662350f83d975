//go:build !race

package audit

import (
	"path/filepath"
	"testing"
	"time"
)

func TestAppendJSONAllocs(t *testing.T) {
	r := sampleRecord(3)
	r.SetPath([]byte("/x\"\xff\u2028"))
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = r.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON: got %v allocs, want 0", n)
	}
}

func TestFileWriterEmitAllocs(t *testing.T) {
	w, err := NewFileWriter(filepath.Join(t.TempDir(), "a.jsonl"), FileConfig{Slots: 1 << 12})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r := sampleRecord(1)
	if n := testing.AllocsPerRun(1000, func() { w.Emit(&r); w.Accepting() }); n != 0 {
		t.Errorf("FileWriter.Emit: got %v allocs, want 0", n)
	}
	p := &r
	if n := testing.AllocsPerRun(1000, func() { p, _ = w.Swap(p) }); n != 0 {
		t.Errorf("FileWriter.Swap: got %v allocs, want 0", n)
	}
}

func TestEmitterEmitAllocs(t *testing.T) {
	// The collector URL is never reached: the emitter only has to capture.
	e, err := NewEmitter(EmitterConfig{URL: "http://127.0.0.1:1", Slots: 1 << 12, FlushInterval: time.Hour, BatchSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r := sampleRecord(1)
	if n := testing.AllocsPerRun(1000, func() { e.Emit(&r); e.Accepting() }); n != 0 {
		t.Errorf("Emitter.Emit: got %v allocs, want 0", n)
	}
	p := &r
	if n := testing.AllocsPerRun(1000, func() { p, _ = e.Swap(p) }); n != 0 {
		t.Errorf("Emitter.Swap: got %v allocs, want 0", n)
	}
}

func TestBatchEncoderAllocs(t *testing.T) {
	var enc batchEncoder
	enc.res = Resource{Service: "svc", Host: "h", InstanceID: "i"}
	r := sampleRecord(2)
	r.SetUserAgent([]byte("bad\xffua"))
	id := []byte("i-1")
	run := func() {
		enc.begin(id)
		for range 64 {
			enc.add(&r)
		}
		enc.finish()
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("batch encode: got %v allocs, want 0", n)
	}
}
