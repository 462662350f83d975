//go:build !race

package audit

import (
	"path/filepath"
	"testing"
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
}
