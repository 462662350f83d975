package collector

import (
	"fmt"
	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/internal/freeport"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestHelperCollector is not a test: run by TestCollectorKilledAndRestarted
// as a child process (the real collector, SIGKILLed mid-stream). It serves
// until killed.
func TestHelperCollector(t *testing.T) {
	dir, addr, keyFile := os.Getenv("AUDIT_HELPER_DATA"), os.Getenv("AUDIT_HELPER_ADDR"), os.Getenv("AUDIT_HELPER_KEY")
	if dir == "" {
		t.Skip("helper process only")
	}
	key, err := LoadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(dir, StoreConfig{SigningKey: key, SegmentMaxBytes: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if every, _ := time.ParseDuration(os.Getenv("AUDIT_HELPER_SIGN_EVERY")); every > 0 {
		go st.RunHeadSigner(t.Context(), every, nil, nil)
	}
	col, err := New(st, Config{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Fatal(http.ListenAndServe(addr, col))
}

type childCollector struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, dir, keyFile, addr string, env ...string) *childCollector {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCollector$", "-test.v")
	cmd.Env = append(os.Environ(), "AUDIT_HELPER_DATA="+dir, "AUDIT_HELPER_ADDR="+addr, "AUDIT_HELPER_KEY="+keyFile)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childCollector{cmd: cmd, addr: addr}
	t.Cleanup(c.kill)
	waitFor(t, "child collector up", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return c
}

func (c *childCollector) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	return freeport.Addr(t)
}

// TestCollectorKilledAndRestarted emits steadily while the collector (a
// child process) is SIGKILLed twice, kept down a while and restarted, and
// the emitter itself is closed with the collector down and replaced by a new
// one on the same spool. Every captured record must be stored exactly once.
func TestCollectorKilledAndRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns collector processes")
	}
	t.Parallel()
	dir, spool := t.TempDir(), t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "k")
	if err := GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	child := startChild(t, dir, keyFile, addr)
	cfg := fastConfig("http://"+addr, spool)
	cfg.Token = testToken
	cfg.BatchSize = 50
	e1, err := audit.NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	emit := func(e *audit.Emitter, n int) {
		for range n {
			r := sampleRecord(next)
			r.SetRequestID([]byte(fmt.Sprintf("r%d", next)))
			next++
			for !e.Emit(&r) {
				time.Sleep(time.Millisecond)
			}
			if next%100 == 0 {
				time.Sleep(2 * time.Millisecond) // steady, not one burst
			}
		}
	}
	emit(e1, 2000)
	child.kill() // mid-stream: batches may be in flight or half written
	emit(e1, 1000)
	child = startChild(t, dir, keyFile, addr)
	emit(e1, 1000)
	child.kill()
	emit(e1, 500)
	e1.Close() // collector down: the rest is spooled
	s1 := e1.Stats()
	if s1.Dropped != 0 || s1.Captured != uint64(next) {
		t.Fatalf("first emitter %+v, emitted %d", s1, next)
	}
	if s1.SpoolRecords == 0 {
		t.Fatalf("nothing spooled with the collector down: %+v", s1)
	}
	startChild(t, dir, keyFile, addr)
	cfg.InstanceID = "inst-2"
	e2, err := audit.NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	emit(e2, 500)
	waitFor(t, "spool drained", func() bool { return e2.Stats().SpoolFiles == 0 })
	e2.Close()
	s2 := e2.Stats()
	if s2.Dropped != 0 {
		t.Fatalf("second emitter dropped: %+v", s2)
	}
	// Every captured record reached the collector once: directly, or from
	// the spool of either emitter.
	if delivered := s1.Delivered + s1.Replayed + s2.Delivered + s2.Replayed; delivered != uint64(next) {
		t.Errorf("delivered %d (first %+v, second %+v), emitted %d", delivered, s1, s2, next)
	}
	child.kill()
	recs := storedRecords(t, dir)
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.RequestID] {
			t.Fatalf("record %s stored twice", r.RequestID)
		}
		seen[r.RequestID] = true
	}
	if len(recs) != next {
		t.Errorf("stored %d records, emitted %d", len(recs), next)
	}
	pub, _ := LoadPublicKey(keyFile + ".pub")
	rep, err := Verify(dir, pub)
	if err != nil || !rep.OK() {
		t.Errorf("verify after kills: %v %+v", err, rep)
	}
}
