package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPackWithAPlantedHeadFIFO: someone who can write the collector's data
// directory puts a named pipe, or a file of gigabytes, in place of
// head.json. The store's checks read it capped and as a regular file only,
// and report it; the pack then copied it into its retention file with
// os.ReadFile, and waited for a writer that never came (or read the
// gigabytes into memory). The pack is made, and says the head is not
// there to quote.
func TestPackWithAPlantedHeadFIFO(t *testing.T) {
	for _, plant := range []struct {
		name string
		do   func(path string) error
	}{
		{"a FIFO", func(path string) error { return syscall.Mkfifo(path, 0o644) }},
		{"a 2 MiB file", func(path string) error { return os.WriteFile(path, make([]byte, 2<<20), 0o644) }},
	} {
		t.Run(plant.name, func(t *testing.T) {
			data, out, key := t.TempDir(), t.TempDir(), newKey(t)
			activity(t, data, key)
			head := filepath.Join(data, "head.json")
			if err := os.Remove(head); err != nil {
				t.Fatal(err)
			}
			if err := plant.do(head); err != nil {
				t.Skipf("cannot plant %s here: %v", plant.name, err)
			}
			hist, err := HistoryFromFile("../examples/policy.yaml")
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParsePeriod("2026-05")
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				res *Result
				err error
			}
			done := make(chan result, 1)
			go func() {
				res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: out, SigningKey: key})
				done <- result{res, err}
			}()
			var res *Result
			select {
			case r := <-done:
				if r.err != nil {
					t.Fatalf("pack with %s as head.json: %v", plant.name, r.err)
				}
				res = r.res
			case <-time.After(time.Minute):
				if f, err := os.OpenFile(head, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close() // a writer lets the blocked read return, so the test ends
				}
				t.Fatalf("the pack still waits on %s as head.json after a minute", plant.name)
			}
			b, err := os.ReadFile(filepath.Join(res.Dir, FileName("APILogging", "RetentionSettings", "2026-05", "md")))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); !strings.Contains(got, "head.json") || strings.Contains(got, "## Signed head (head.json)") {
				t.Errorf("retention file with %s as head.json: want the head named as unreadable, not quoted:\n%s", plant.name, got)
			}
		})
	}
}
