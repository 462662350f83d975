//go:build linux

package collector

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/internal/tmpfs"
	"github.com/rs/zerolog"
)

// A store whose filesystem turns read-only while the collector runs (the
// kernel does so on a disk error, errors=remount-ro; writes through the
// open segment fail with EROFS) answers every batch 503
// store_unavailable, never 200, fails /readyz, and says so once in a log
// line naming the read-only filesystem and what to do. It wrote a line a
// batch, "audit store append failed", the first naming the write, the
// rest the truncate that could not cut the failed append off: as many
// lines as senders retried, none saying the filesystem was read-only.
// Every batch acknowledged is in the store after.
func TestCollectorStoreTurnedReadOnly(t *testing.T) {
	t.Parallel()
	fs, fail := tmpfs.Ext4(t, 32<<20)
	dir := filepath.Join(fs, "data")
	var logs lockedBuffer
	log := zerolog.New(&logs)
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	col, err := New(st, Config{Token: testToken, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	t.Cleanup(srv.Close)
	recs := make([]audit.Record, 100)
	for i := range recs {
		recs[i] = sampleRecord(i)
		recs[i].Time = time.Now().UnixNano()
	}
	send := func(id string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", strings.NewReader(string(encodeBatch(id, recs...))))
		req.Header.Set("Content-Type", FormatProtobuf)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := send("ro-0"); code != 200 {
		t.Fatalf("a batch before: %d %s", code, body)
	}
	fail()
	for i := 1; i <= 5; i++ {
		if code, body := send(fmt.Sprintf("ro-%d", i)); code != 503 || !strings.Contains(body, `"error":"store_unavailable"`) {
			t.Errorf("batch %d on a read-only store: %d %s, want 503 store_unavailable", i, code, body)
		}
	}
	if code, body := getBody(t, srv.URL+"/readyz"); code != 503 || !strings.Contains(body, "store: FAIL") {
		t.Errorf("/readyz on a read-only store: %d %q, want 503, store FAIL", code, body)
	}
	var told []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, `"level":"error"`) || strings.Contains(l, `"level":"warn"`) {
			told = append(told, l)
		}
	}
	if len(told) != 1 || !strings.Contains(told[0], "read-only filesystem") || !strings.Contains(told[0], "503 store_unavailable") {
		t.Errorf("log lines (error, warn) for 5 batches refused: %d, want one naming the read-only filesystem and the 503:\n%s", len(told), strings.Join(told, "\n"))
	}
	st.Close()
	n := 0
	if err := QueryRecords(dir, Filter{}, func(*StoredRecord) error { n++; return nil }); err != nil || n != len(recs) {
		t.Errorf("records stored: %d, %v; want the %d of the one batch acknowledged", n, err, len(recs))
	}
}

// A collector started on a read-only store does not start: OpenStore
// fails, naming the directory and the read-only filesystem, which the
// program logs as its one error line (the lock file cannot be opened for
// writing).
func TestOpenStoreOnReadOnlyFilesystem(t *testing.T) {
	t.Parallel()
	fs, fail := tmpfs.Ext4(t, 32<<20)
	dir := filepath.Join(fs, "data")
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	fail()
	st, err = OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err == nil {
		st.Close()
		t.Fatal("a store on a read-only filesystem opened")
	}
	if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), dir) {
		t.Errorf("opening a store on a read-only filesystem: %v; want EROFS, naming %s", err, dir)
	}
}
