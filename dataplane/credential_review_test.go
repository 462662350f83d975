package dataplane

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// mintHS signs claims with HS256 and secret.
func mintHS(t testing.TB, secret []byte, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "HS256", "typ": "JWT"}) + "." + enc(claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TestHMACSecretRotationTakesEffect: an HS256 issuer's secret is a
// reference (file:PATH). After the secret file is rotated (the old secret
// leaked) and a new policy revision is pushed, tokens signed with the old
// secret must be refused and tokens signed with the new one accepted. The
// verifier was kept for the same issuers whatever the file held, until a
// restart (an outside review).
func TestHMACSecretRotationTakesEffect(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hs.secret")
	oldSecret := []byte("old-secret-that-leaked-0123456789abcdef")
	newSecret := []byte("new-secret-after-rotation-0123456789abcd")
	if err := os.WriteFile(path, oldSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	st := startStack(t, nil)
	hsIssuer := policy.IssuerSpec{
		ID: "hs-idp", Issuer: "https://hs.example", Audiences: []string{"hs-aud"},
		Algorithms: []string{"HS256"}, HMACSecret: "file:" + path, Tenants: []string{"acme"},
	}
	swapDoc(t, st.store, func(d *policy.Document) { d.Issuers = append(d.Issuers, hsIssuer) })

	claims := func(jti string) map[string]any {
		now := time.Now().Unix()
		return map[string]any{"iss": "https://hs.example", "aud": "hs-aud", "client_id": "acme-hris",
			"tenant": "acme", "scope": "read:users", "jti": jti, "iat": now, "exp": now + 300}
	}
	before := mintHS(t, oldSecret, claims("a"))
	if r := do(t, st.addr, "GET", "/v1/users", bearer(before), ""); r.status != 200 {
		t.Fatalf("setup: token with the configured secret got %d %s", r.status, r.body)
	}

	// Rotate: the secret file now holds the new secret, and a new policy
	// revision is pushed (here: the same document, next revision).
	if err := os.WriteFile(path, newSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	swapDoc(t, st.store, func(d *policy.Document) { d.Issuers = append(d.Issuers, hsIssuer) })

	if r := do(t, st.addr, "GET", "/v1/users", bearer(mintHS(t, oldSecret, claims("b"))), ""); r.status != 401 {
		t.Errorf("fresh token signed with the ROTATED-OUT secret got %d (upstream reached: %v), want 401",
			r.status, r.status == 200)
	}
	if r := do(t, st.addr, "GET", "/v1/users", bearer(mintHS(t, newSecret, claims("c"))), ""); r.status != 200 {
		t.Errorf("token signed with the new secret got %d, want 200", r.status)
	}
	if r := do(t, st.addr, "GET", "/v1/users", bearer(before), ""); r.status != 401 {
		t.Errorf("a token of the rotated-out secret verified (and cached) before the rotation: %d, want 401", r.status)
	}
}

// TestKeyAgeFromFutureCreatedAt: under lifecycle.max_key_age a key must
// stop authenticating max_key_age after it became usable. A live key
// record whose created_at lies after its not_before (or in the future)
// was usable from not_before but aged from created_at: a key usable for
// 30 days under max_key_age 1h (an outside review). A key with a
// created_at in the future and no not_before is not usable yet.
func TestKeyAgeFromFutureCreatedAt(t *testing.T) {
	st := startStack(t, nil)
	doc := *loadExample(t).Doc
	doc.Lifecycle = &policy.LifecycleSpec{MaxKeyAge: "1h", RotationWarning: "10m"}
	now := time.Now().UTC()
	k, spec := mustKey(t, "acme-hris", now.Add(-30*24*time.Hour), time.Time{}) // usable for 30 days already
	spec.CreatedAt = now.Add(365 * 24 * time.Hour).Format(time.RFC3339)        // "made" next year
	swapWithKeys(t, st.store, &doc, spec)
	if r := do(t, st.addr, "GET", "/v1/users", key(k), ""); r.status == 200 {
		t.Errorf("key usable since 30 days under max_key_age 1h got 200 (upstream reached), want 401 key_expired_by_policy")
	}
	k2, spec2 := mustKey(t, "acme-hris", time.Time{}, time.Time{})
	spec2.CreatedAt = now.Add(365 * 24 * time.Hour).Format(time.RFC3339)
	swapWithKeys(t, st.store, &doc, spec2)
	if r := do(t, st.addr, "GET", "/v1/users", key(k2), ""); r.status != 401 {
		t.Errorf("key made next year, no not_before: %d, want 401", r.status)
	}
	k3, spec3 := mustKey(t, "acme-hris", time.Time{}, time.Time{})
	spec3.CreatedAt = now.Add(time.Minute).Format(time.RFC3339) // a clock a minute ahead of this one
	swapWithKeys(t, st.store, &doc, spec3)
	if r := do(t, st.addr, "GET", "/v1/users", key(k3), ""); r.status != 200 {
		t.Errorf("key made a minute ahead (within policy.CreatedSkew): %d, want 200", r.status)
	}
}

// TestHMACSecretFileRotatedWithoutPush: a Kubernetes Secret volume is
// updated in place, with no policy change to go with it: the sidecar reads
// the issuers' secret references again (watchSecrets) and verifies with
// the new secret.
func TestHMACSecretFileRotatedWithoutPush(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hs.secret")
	oldSecret := []byte("old-secret-that-leaked-0123456789abcdef")
	newSecret := []byte("new-secret-after-rotation-0123456789abcd")
	if err := os.WriteFile(path, oldSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	st := startStack(t, func(c *Config) { c.secretCheck = 20 * time.Millisecond })
	swapDoc(t, st.store, func(d *policy.Document) {
		d.Issuers = append(d.Issuers, policy.IssuerSpec{ID: "hs-idp", Issuer: "https://hs.example", Audiences: []string{"hs-aud"},
			Algorithms: []string{"HS256"}, HMACSecret: "file:" + path, Tenants: []string{"acme"}})
	})
	heard := st.store.HeardAt()
	tok := func(secret []byte, jti string) map[string]string {
		now := time.Now().Unix()
		return bearer(mintHS(t, secret, map[string]any{"iss": "https://hs.example", "aud": "hs-aud", "client_id": "acme-hris",
			"tenant": "acme", "scope": "read:users", "jti": jti, "iat": now, "exp": now + 300}))
	}
	if r := do(t, st.addr, "GET", "/v1/users", tok(oldSecret, "a"), ""); r.status != 200 {
		t.Fatalf("setup: %d %s", r.status, r.body)
	}
	if err := os.WriteFile(path, newSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for do(t, st.addr, "GET", "/v1/users", tok(newSecret, "b"), "").status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("a token of the rotated secret is still refused 10 s after the file changed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := do(t, st.addr, "GET", "/v1/users", tok(oldSecret, "c"), ""); r.status != 401 {
		t.Errorf("a fresh token of the rotated-out secret: %d, want 401", r.status)
	}
	if st.store.HeardAt() != heard {
		t.Errorf("preparing the policy again counted as hearing from the control plane")
	}
}

// TestKeyWindowBeyondNanosecondRange: a key record's not_before, not_after
// and created_at are compared as unix nanoseconds, which end in 2262 and
// start in 1677. A key parked with not_before in year 9999 authenticated
// at once (the nanoseconds wrapped to 1816), one that expired in 1600
// authenticated until 2184 (an outside review). Such times are refused: a
// key record naming one is left out, saying why, and authenticates nothing.
func TestKeyWindowBeyondNanosecondRange(t *testing.T) {
	st := startStack(t, nil)
	far, past := "9999-12-31T00:00:00Z", "1600-01-01T00:00:00Z"
	parked, parkedSpec := mustKey(t, "acme-hris", time.Time{}, time.Time{})
	parkedSpec.NotBefore = far
	dead, deadSpec := mustKey(t, "acme-hris", time.Time{}, time.Time{})
	deadSpec.NotAfter = past
	future, futureSpec := mustKey(t, "acme-hris", time.Time{}, time.Time{})
	futureSpec.CreatedAt = far
	forever, foreverSpec := mustKey(t, "acme-hris", time.Time{}, time.Time{})
	foreverSpec.NotAfter = far
	for _, c := range []struct {
		name, key string
		spec      policy.KeySpec
	}{
		{"not_before in 9999", parked, parkedSpec},
		{"not_after in 1600", dead, deadSpec},
		{"created_at in 9999", future, futureSpec},
		{"not_after in 9999", forever, foreverSpec},
	} {
		snap, err := policy.Compile(loadExample(t).Doc, policy.Live{Revision: 2, Keys: []policy.KeySpec{c.spec}})
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.SkippedKeys) != 1 || !strings.Contains(snap.SkippedKeys[0], "out of range") {
			t.Errorf("%s: skipped key records %q, want this one, its time named out of range", c.name, snap.SkippedKeys)
		}
		st.store.Swap(snap)
		if r := do(t, st.addr, "GET", "/v1/users", key(c.key), ""); r.status != 401 {
			t.Errorf("%s: got %d %s, want 401", c.name, r.status, r.body)
		}
	}
}

// TestHMACSecretFIFOFailsClosedNotFrozen: a FIFO swapped in at an
// issuer's hmac_secret file held the secret check (watchSecrets) in
// open(2) for good, waiting for a writer: the secret in force before it
// kept verifying tokens, and no later rotation loaded (a policy push,
// which reads the secret too, froze the same way). The FIFO is now an
// unreadable secret like a missing file: the issuer's tokens are refused,
// and the next regular file loads.
func TestHMACSecretFIFOFailsClosedNotFrozen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hs.secret")
	oldSecret := []byte("old-secret-that-leaked-0123456789abcdef")
	newSecret := []byte("new-secret-after-rotation-0123456789abcd")
	if err := os.WriteFile(path, oldSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	st := startStack(t, func(c *Config) { c.secretCheck = 20 * time.Millisecond })
	swapDoc(t, st.store, func(d *policy.Document) {
		d.Issuers = append(d.Issuers, policy.IssuerSpec{ID: "hs-idp", Issuer: "https://hs.example", Audiences: []string{"hs-aud"},
			Algorithms: []string{"HS256"}, HMACSecret: "file:" + path, Tenants: []string{"acme"}})
	})
	n := 0
	tok := func(secret []byte) map[string]string {
		n++
		now := time.Now().Unix()
		return bearer(mintHS(t, secret, map[string]any{"iss": "https://hs.example", "aud": "hs-aud", "client_id": "acme-hris",
			"tenant": "acme", "scope": "read:users", "jti": fmt.Sprint("fifo-", n), "iat": now, "exp": now + 300}))
	}
	if r := do(t, st.addr, "GET", "/v1/users", tok(oldSecret), ""); r.status != 200 {
		t.Fatalf("setup: %d %s", r.status, r.body)
	}
	fifo := path + ".fifo"
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	if err := os.Rename(fifo, path); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "a token of the secret no longer readable is refused", func() (bool, string) {
		r := do(t, st.addr, "GET", "/v1/users", tok(oldSecret), "")
		return r.status == 401, fmt.Sprint(r.status)
	})
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, newSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "a token of the rotated secret is accepted", func() (bool, string) {
		r := do(t, st.addr, "GET", "/v1/users", tok(newSecret), "")
		return r.status == 200, fmt.Sprint(r.status)
	})
}
