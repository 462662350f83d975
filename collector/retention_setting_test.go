package collector

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRetentionRecordedInHead checks that the store records its retention
// setting in its signed head, that a restart with another setting records
// the new one before any append, and that an edited head is refused.
func TestRetentionRecordedInHead(t *testing.T) {
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	open := func(ret time.Duration) *Store {
		t.Helper()
		st, err := OpenStore(dir, StoreConfig{SigningKey: key, Retention: ret})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	check := func(want time.Duration) {
		t.Helper()
		got, err := ReadRetention(dir, pub)
		if err != nil || !got.Recorded || !got.Verified || got.Retention != want {
			t.Fatalf("ReadRetention = %+v, %v; want %v recorded and verified", got, err, want)
		}
	}
	if got, err := ReadRetention(dir, pub); err != nil || got.Recorded {
		t.Fatalf("ReadRetention of no store = %+v, %v; want nothing recorded", got, err)
	}
	st := open(400 * 24 * time.Hour)
	if err := st.AppendBatch(&Batch{ID: "b1", Records: []StoredRecord{{Time: time.Now(), Tenant: "acme"}}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	check(400 * 24 * time.Hour)

	st = open(30 * 24 * time.Hour) // restarted with another setting, nothing appended
	st.Close()
	check(30 * 24 * time.Hour)
	st = open(0)
	st.Close()
	check(0)

	head := filepath.Join(dir, headFile)
	data, _ := os.ReadFile(head)
	os.WriteFile(head, bytes.Replace(data, []byte(`"retention_seconds":0`), []byte(`"retention_seconds":9`), 1), 0o600)
	if got, err := ReadRetention(dir, pub); err == nil {
		t.Errorf("ReadRetention of an edited head = %+v; want an error", got)
	}
}
