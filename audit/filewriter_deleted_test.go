package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The audit file is deleted while the writer holds it open: the records
// captured after go to a file made again at its path, with a warn line.
// They went to the deleted file, counted written, and no reader could
// ever see them.
func TestFileWriterDeletedFileMadeAgain(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var logs bytes.Buffer
	log := zerolog.New(&logs)
	w, err := NewFileWriter(path, FileConfig{Slots: 64, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	emit := func(from, to int) {
		for i := from; i < to; i++ {
			r := sampleRecord(i)
			if !w.Emit(&r) {
				t.Fatalf("record %d refused", i)
			}
		}
	}
	const n1, n2 = 5, 12
	emit(0, n1)
	for deadline := time.Now().Add(time.Minute); w.Stats().Written < n1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the first %d records not written: %+v", n1, w.Stats())
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	emit(n1, n2)
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the records after the deletion are in no file: %v (stats %+v)", err, w.Stats())
	}
	if got := strings.Count(string(b), "\n"); got != n2-n1 {
		t.Errorf("the file made again holds %d lines, want the %d records captured after the deletion:\n%s", got, n2-n1, b)
	}
	if !strings.Contains(logs.String(), "audit file was deleted while open") {
		t.Errorf("no warn line for the deleted file; the log:\n%s", logs.String())
	}
}
