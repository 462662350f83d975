package collector

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSenderAttributeIsNoKeyRotation: a batch opening a segment whose
// record carries an attribute "kind" of "key_rotation" (any OTLP client
// may send one) is no key rotation: the collector starts on the store and
// verify checks it whole. Before, readRotation took any first line holding
// `,"kind":"key_rotation"` for a rotation, failed it as malformed, and the
// store neither verified nor opened: a sender denied the audit trail.
func TestSenderAttributeIsNoKeyRotation(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	dir := t.TempDir()
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 2)
	if err := st.Rotate(); err != nil {
		t.Fatal(err)
	}
	a := sampleRecord(9)
	rec := Stored(&a)
	rec.Attributes = map[string]string{"a": "b", "kind": "key_rotation"}
	if err := st.AppendBatch(&Batch{ID: "lookalike", Records: []StoredRecord{rec}}); err != nil {
		t.Fatal(err)
	}
	appendBatches(t, st, 3, 1)
	st.Close()
	if _, err := Verify(dir, pubOf(key)); err != nil {
		t.Errorf("Verify of a store whose segment opens with a sender's key_rotation attribute = %v", err)
	} else if rep, _ := Verify(dir, pubOf(key)); !rep.OK() || rep.KeyRotations != 0 {
		t.Errorf("verify: problems %v, rotations %d; want ok, none", problems(rep), rep.KeyRotations)
	}
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatalf("OpenStore of a store whose segment opens with a sender's key_rotation attribute = %v", err)
	}
	st.Close()
}

// TestOldKeyHeadPastRotationRefused: a head signed by the old key and
// naming a segment before the rotation, but an entry at or past the
// rotation's, is no head of the store: the old key signed nothing there.
// Before, KeyRing.OpenHead chose the key by the head's segment alone, so
// a leaked old key signed heads past the rotation that the evidence pack
// took from etcd's history to date revisions with.
func TestOldKeyHeadPastRotationRefused(t *testing.T) {
	t.Parallel()
	old, next := newTestKey(t), newTestKey(t)
	dir := rotatedStore(t, old, next)
	keys, err := LoadKeys(dir, pubOf(next))
	if err != nil {
		t.Fatal(err)
	}
	rot, err := readRotation(dir, 2)
	if err != nil || rot == nil {
		t.Fatalf("readRotation(2) = %v, %v", rot, err)
	}
	rotSeq := rot.body.Seq
	for _, tc := range []struct {
		seq uint64
		ok  bool
	}{{rotSeq - 1, true}, {rotSeq, false}, {rotSeq + 100, false}} {
		doc, _, err := signDoc(old, domainHead, storeHead{Segment: 1, Seq: tc.seq})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.OpenHead(doc); (err == nil) != tc.ok {
			t.Errorf("old key's head of segment 1, seq %d (the rotation is seq %d): OpenHead = %v, want ok %v", tc.seq, rotSeq, err, tc.ok)
		}
	}
}

// TestSenderAttributeIsNoKeyRotationOverHTTP: the same, sent as any OTLP
// client sends it, over loopback to a real collector.
func TestSenderAttributeIsNoKeyRotationOverHTTP(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	dir := t.TempDir()
	srv, st := startCollector(t, dir, key, StoreConfig{})
	appendBatches(t, st, 0, 1)
	if err := st.Rotate(); err != nil {
		t.Fatal(err)
	}
	body := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"` + itoa(int(time.Now().UnixNano())) +
		`","body":{"stringValue":"hello"},"attributes":[{"key":"a","value":{"stringValue":"b"}},{"key":"kind","value":{"stringValue":"key_rotation"}}]}]}]}]}`
	if code := postJSONAs(t, srv.URL, testToken, []byte(body)); code != http.StatusOK {
		t.Fatalf("POST = %d", code)
	}
	srv.Close()
	st.Close()
	if data, _ := os.ReadFile(filepath.Join(dir, segName(2))); !strings.Contains(string(data), `,"kind":"key_rotation"`) {
		t.Fatalf("segment 2 does not hold the attribute as rendered: %s", data)
	}
	if rep, err := Verify(dir, pubOf(key)); err != nil || !rep.OK() {
		t.Errorf("verify: %v, problems %v; want ok", err, problems(rep))
	}
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatalf("OpenStore after a sender's key_rotation attribute = %v", err)
	}
	st.Close()
}
