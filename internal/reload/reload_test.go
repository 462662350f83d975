package reload

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A file replaced by one of the same size and modification time (cp -p,
// tar) has another stamp: its inode and change time differ.
func TestStampSameSizeAndTime(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := filepath.Join(dir, "ca.crt")
	mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
	put := func(content string) {
		t.Helper()
		tmp := f + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tmp, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f); err != nil {
			t.Fatal(err)
		}
	}
	put("old CA")
	before, err := Stamp(f)
	if err != nil {
		t.Fatal(err)
	}
	put("new CA")
	after, err := Stamp(f)
	if err != nil {
		t.Fatal(err)
	}
	if before == after {
		t.Errorf("a file replaced by one of the same size and modification time kept its stamp %q", before)
	}
	if again, _ := Stamp(f); again != after {
		t.Errorf("an unchanged file's stamp %q, then %q", after, again)
	}
	missing := filepath.Join(dir, "gone")
	if _, err := Stamp(f, missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("a missing file: %v; want an error naming it", err)
	}
}

// Value keeps what it loaded while the files cannot be loaded, telling
// refused once per failure and again once on the repair; before anything
// loaded a failure is returned.
func TestValueKeepsLoadedAndTellsOnce(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "cert.pem")
	var v Value[string]
	var refused []string
	agains := 0
	get := func() (string, error) {
		t.Helper()
		v.mu.Lock()
		v.checked = time.Time{} // past the second between looks
		v.mu.Unlock()
		return v.Get([]string{f}, func() (string, error) {
			b, err := os.ReadFile(f)
			if err != nil || strings.HasPrefix(string(b), "bad") {
				return "", errors.New("cannot load: " + string(b))
			}
			return string(b), nil
		}, func(err error) { refused = append(refused, err.Error()) }, func() { agains++ })
	}
	put := func(content string) {
		t.Helper()
		if err := os.WriteFile(f+".tmp", []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f+".tmp", f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := get(); err == nil || !strings.Contains(err.Error(), f) {
		t.Fatalf("no file yet: %v; want an error naming it", err)
	}
	put("bad one")
	if got, err := get(); err == nil || got != "" {
		t.Fatalf("nothing loaded yet, a bad file: %q, %v; want an error", got, err)
	}
	put("first")
	if got, err := get(); err != nil || got != "first" || agains != 0 {
		t.Fatalf("first load: %q, %v, %d agains; want first and no again (nothing was kept)", got, err, agains)
	}
	put("bad two")
	for range 3 {
		if got, err := get(); err != nil || got != "first" {
			t.Fatalf("a bad file: %q, %v; want first kept", got, err)
		}
	}
	put("bad three!")
	if got, _ := get(); got != "first" {
		t.Fatalf("another bad file: %q; want first kept", got)
	}
	if len(refused) != 2 || !strings.Contains(refused[0], "bad two") || !strings.Contains(refused[1], "bad three!") {
		t.Errorf("refused told %q; want once per failure, two", refused)
	}
	put("second")
	if got, err := get(); err != nil || got != "second" || agains != 1 {
		t.Errorf("repaired: %q, %v, %d agains; want second and one again", got, err, agains)
	}
	if got, _ := get(); got != "second" || agains != 1 || len(refused) != 2 {
		t.Errorf("unchanged: %q, %d agains, %d refused; want nothing told", got, agains, len(refused))
	}
	// The same failure after a repair is told again.
	put("bad two")
	get()
	if len(refused) != 3 {
		t.Errorf("refused told %q; want the failure told again after the repair", refused)
	}
}

// Within a second of a look, Get answers what it holds without looking.
func TestValueLooksAtMostOnceASecond(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(f, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	var v Value[string]
	loads := 0
	load := func() (string, error) { loads++; b, err := os.ReadFile(f); return string(b), err }
	v.Get([]string{f}, load, func(error) {}, func() {})
	v.mu.Lock()
	v.checked = time.Now().Add(time.Hour) // a look "just now", whatever the clock does
	v.mu.Unlock()
	if err := os.WriteFile(f, []byte("two!"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := v.Get([]string{f}, load, func(error) {}, func() {}); got != "one" || loads != 1 {
		t.Errorf("within a second of a look: %q after %d loads; want one, not looked at again", got, loads)
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	var f Failures
	if f.Loaded() {
		t.Error("Loaded before any failure reports a repair")
	}
	if !f.Failed("a") || f.Failed("a") || !f.Failed("b") || f.Failed("b") {
		t.Error("Failed: want true once per failure, until it changes")
	}
	if !f.Loaded() || f.Loaded() {
		t.Error("Loaded: want true once after a failure")
	}
	if !f.Failed("b") {
		t.Error("Failed after a repair: want the failure told again")
	}
}

// Watch says a file changed once per change, looking at it at most once
// a second (the times here are given, not waited for), and costs nothing
// between looks.
func TestWatch(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ca.crl")
	put := func(content string) {
		t.Helper()
		if err := os.WriteFile(f+".tmp", []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f+".tmp", f); err != nil {
			t.Fatal(err)
		}
	}
	put("first")
	w := NewWatch(f)
	at := int64(time.Hour) // a monotonic clock's nanoseconds
	if w.Changed(at) {
		t.Fatal("changed before any change")
	}
	put("second")
	if w.Changed(at + int64(time.Second/2)) {
		t.Error("looked again within a second of the last look")
	}
	if !w.Changed(at + int64(time.Second)) {
		t.Error("a change not seen a second after the last look")
	}
	if w.Changed(at + int64(2*time.Second)) {
		t.Error("one change seen twice")
	}
	if err := os.Remove(f); err != nil {
		t.Fatal(err)
	}
	if w.Changed(at + int64(3*time.Second)) {
		t.Error("a file that cannot be looked at taken for changed")
	}
	put("third")
	if !w.Changed(at + int64(4*time.Second)) {
		t.Error("the file back, changed, not seen")
	}
	if n := testing.AllocsPerRun(100, func() { w.Changed(at + int64(4*time.Second)) }); n != 0 {
		t.Errorf("%v allocations between looks, want 0", n)
	}
	// Of several files (the sidecar's client CA and CRL), a change of
	// any is seen.
	other := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(other, []byte("CA A"), 0o600); err != nil {
		t.Fatal(err)
	}
	both := NewWatch(other, f)
	if both.Changed(at) {
		t.Fatal("two files changed before any change")
	}
	if err := os.WriteFile(other+".tmp", []byte("CA B"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other+".tmp", other); err != nil {
		t.Fatal(err)
	}
	if !both.Changed(at + int64(time.Second)) {
		t.Error("a change of the first of two files not seen")
	}
	put("fourth")
	if !both.Changed(at + int64(2*time.Second)) {
		t.Error("a change of the second of two files not seen")
	}
}
