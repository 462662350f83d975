package collector

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestFileAnchorReplaceIsOneAtATime: a publication replaces only the head
// it last saw, so of collectors that all saw the same head (two given one
// --publish-head file) one may replace it and the others must find it
// changed. The read, compare and write of the file were not atomic across
// writers: several read the same head and each wrote after it, the last
// write winning unseen. They now hold the file's lock: in each round
// exactly one of the concurrent replaces succeeds, and the file holds its
// head.
func TestFileAnchorReplaceIsOneAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "head.json")
	old := []byte("round-0")
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 30; round++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []string
		start := make(chan struct{})
		for w := range 8 {
			head := []byte(fmt.Sprintf("round-%d-writer-%d", round, w))
			wg.Go(func() {
				<-start
				if FileAnchor(path).ReplaceHead(context.Background(), old, head) == nil {
					mu.Lock()
					won = append(won, string(head))
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		cur, _ := os.ReadFile(path)
		if len(won) != 1 || string(cur) != won[0] {
			t.Fatalf("round %d: %d replaces of the same head succeeded (%q), the file holds %q; want exactly one, and its head", round, len(won), won, cur)
		}
		old = cur
	}
}

// A publication waits while another process holds the file's lock, and
// gives up, saying so, when its context ends.
func TestFileAnchorWaitsForTheLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "head.json")
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = FileAnchor(path).ReplaceHead(ctx, nil, []byte("head"))
	if err == nil || !strings.Contains(err.Error(), "being written by another process") {
		t.Fatalf("ReplaceHead while another holds the lock = %v; want it to say so", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the head was written without the lock (%v)", err)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if err := FileAnchor(path).ReplaceHead(context.Background(), nil, []byte("head")); err != nil {
		t.Errorf("ReplaceHead once the lock is free = %v", err)
	}
}
