package jwt

import (
	"bufio"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestUnknownKidFlood sends 1000 tokens with random kids in parallel and
// counts the provider's requests: at most one refetch per MinRefetch.
func TestUnknownKidFlood(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	p := newProvider(t, jwks(ks["RS256"]))
	const window = time.Minute
	v := newTestVerifier(t, Config{Issuers: []Issuer{testIssuer(p.srv.URL)}, MinRefetch: window})
	if got := p.count.Load(); got != 1 {
		t.Fatalf("fetches after Start: got %d, want 1", got)
	}
	now := time.Now()
	flood := func(now time.Time) {
		var wg sync.WaitGroup
		for range 1000 {
			wg.Go(func() {
				k := ks["RS256"]
				k.kid = rand.Text()
				if _, st := v.Verify(sign(k, nil, claimsAt(now, nil)), now); st != UnknownKey {
					t.Errorf("random kid: got %v, want unknown_key", st)
				}
			})
		}
		wg.Wait()
	}
	flood(now)
	if got := p.count.Load(); got > 2 {
		t.Errorf("fetches after flood: got %d, want <= 2 (Start + one refetch)", got)
	}
	flood(now.Add(window / 2))
	if got := p.count.Load(); got > 2 {
		t.Errorf("fetches after flood within window: got %d, want <= 2", got)
	}
	flood(now.Add(window + time.Second))
	if got := p.count.Load(); got > 3 {
		t.Errorf("fetches after flood in next window: got %d, want <= 3", got)
	}
	if _, st := v.Verify(sign(ks["RS256"], nil, claimsAt(now, nil)), now); st != OK {
		t.Errorf("valid token after flood: got %v, want ok", st)
	}
}

// TestKeyRotation: a new kid is accepted on first use through the
// unknown-kid refetch, and a dropped key is refused after the refresh
// that drops it, even for a token already in the cache.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	oldKey := ks["RS256"]
	newKey := testKey{alg: "RS256", kid: "rsa-2", priv: rsaSecond()}
	p := newProvider(t, jwks(oldKey))
	v := newTestVerifier(t, Config{Issuers: []Issuer{testIssuer(p.srv.URL)}, MinRefetch: time.Hour})
	now := time.Now()
	oldTok := sign(oldKey, nil, claimsAt(now, nil))
	if _, st := v.Verify(oldTok, now); st != OK {
		t.Fatalf("old key before rotation: got %v", st)
	}
	v.WaitCache()

	p.set(jwks(oldKey, newKey))
	newTok := sign(newKey, nil, claimsAt(now, nil))
	if _, st := v.Verify(newTok, now); st != OK {
		t.Fatalf("new kid on first use: got %v, want ok", st)
	}
	if got := p.count.Load(); got != 2 {
		t.Errorf("fetches: got %d, want 2 (Start + refetch)", got)
	}
	if _, st := v.Verify(oldTok, now); st != OK {
		t.Errorf("old key while both published: got %v, want ok", st)
	}

	p.set(jwks(newKey))
	if err := v.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if _, st := v.Verify(oldTok, now); st != UnknownKey {
		t.Errorf("cached token of dropped key: got %v, want unknown_key", st)
	}
	if _, st := v.Verify(sign(oldKey, nil, claimsAt(now, map[string]any{"jti": "x"})), now); st != UnknownKey {
		t.Errorf("fresh token of dropped key: got %v, want unknown_key", st)
	}
	if _, st := v.Verify(newTok, now); st != OK {
		t.Errorf("new key after rotation: got %v, want ok", st)
	}
}

// TestProviderDown: held keys keep working while the provider fails,
// until MaxStale after the last good fetch.
func TestProviderDown(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	p := newProvider(t, jwks(ks["ES256"]))
	const maxStale = time.Hour
	v := newTestVerifier(t, Config{Issuers: []Issuer{testIssuer(p.srv.URL)}, MaxStale: maxStale, MinRefetch: time.Millisecond})
	// Start's first fetch may still be in flight, and a Refresh joins it:
	// wait for a good fetch before taking the provider down.
	if err := v.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh with provider up: %v", err)
	}
	fetched := time.Unix(0, v.issuers[testIss].fetchedAt.Load())
	p.down.Store(true)
	if err := v.Refresh(t.Context()); err == nil {
		t.Fatal("Refresh with provider down: got nil error")
	}
	check := func(now time.Time, want Status) {
		t.Helper()
		tok := sign(ks["ES256"], nil, claimsAt(now, nil))
		for i := range 2 { // cold, then from the cache
			if _, st := v.Verify(tok, now); st != want {
				t.Errorf("at fetch+%v (pass %d): got %v, want %v", now.Sub(fetched), i, st, want)
			}
			v.WaitCache()
		}
	}
	check(fetched.Add(time.Minute), OK)
	check(fetched.Add(maxStale-time.Second), OK)
	check(fetched.Add(maxStale+time.Second), KeysUnavailable)
	if s := v.Stats(); s.FetchErrors == 0 {
		t.Errorf("fetch errors: got 0, want > 0")
	}

	p.down.Store(false)
	check(time.Now().Add(time.Second), OK)
}

// TestNoStartFetchesOnDemand: a verifier that was never started fetches
// keys on the first token, and an unreachable provider yields
// keys_unavailable rather than a hang.
func TestNoStartFetchesOnDemand(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	p := newProvider(t, jwks(ks["EdDSA"]))
	// RefetchWait well above the default 2 s: the test is that a fetch
	// happens on demand, and on a loaded machine (go test -race ./...)
	// the fetch alone took longer than 2 s, so the token failed.
	v, err := New(Config{Issuers: []Issuer{testIssuer(p.srv.URL)}, RefetchWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	now := time.Now()
	if _, st := v.Verify(sign(ks["EdDSA"], nil, claimsAt(now, nil)), now); st != OK {
		t.Errorf("first token without Start: got %v, want ok", st)
	}

	p2 := newProvider(t, nil)
	p2.down.Store(true)
	v2, err := New(Config{Issuers: []Issuer{testIssuer(p2.srv.URL)}, RefetchWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if _, st := v2.Verify(sign(ks["EdDSA"], nil, claimsAt(now, nil)), now); st != KeysUnavailable {
		t.Errorf("provider down, no keys: got %v, want keys_unavailable", st)
	}
}

// TestRefetchWaitBounded: a provider that hangs delays the request that
// triggered the refetch by at most RefetchWait.
func TestRefetchWaitBounded(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	p := newProvider(t, jwks(ks["RS256"]))
	v := newTestVerifier(t, Config{
		Issuers:     []Issuer{testIssuer(p.srv.URL)},
		RefetchWait: 50 * time.Millisecond,
	})
	block := make(chan struct{})
	defer close(block)
	p.hang.Store(&block)
	k := ks["RS256"]
	k.kid = "new"
	now := time.Now()
	start := time.Now()
	_, st := v.Verify(sign(k, nil, claimsAt(now, nil)), now)
	if took := time.Since(start); took > 15*time.Second || st != UnknownKey { // the provider hangs until the test ends: any bound proves the wait is RefetchWait's
		t.Errorf("hanging provider: got %v after %v, want unknown_key within ~50ms", st, took)
	}
}

func TestRefreshLoop(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	p := newProvider(t, jwks(ks["RS256"]))
	seen := make(chan struct{}, 100)
	p.notify.Store(&seen)
	v := newTestVerifier(t, Config{Issuers: []Issuer{testIssuer(p.srv.URL)}, RefreshInterval: 10 * time.Millisecond})
	timeout := time.After(10 * time.Second)
	for range 3 { // Start's fetch and two from the background loop
		select {
		case <-seen:
		case <-timeout:
			t.Fatalf("background fetches: got %d, want >= 3", p.count.Load())
		}
	}
	v.Close() // returns only after the refresh loop has exited
	if s := v.Stats(); s.Fetches < 3 || s.FetchErrors != 0 {
		t.Errorf("stats: got %d fetches, %d errors", s.Fetches, s.FetchErrors)
	}
}

// TestJWKSRedirectToPlainHTTPRefused: an https JWKS URL whose server
// redirects to plain http (a TLS-terminating balancer that writes its
// Location with http://) had the keys read from the cleartext hop, where
// anyone on the path can answer with their own: a token they signed was
// accepted. A redirect that leaves https is a failed fetch; one that stays
// on https is followed (an outside review).
func TestJWKSRedirectToPlainHTTPRefused(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	good := ks["EdDSA"]
	evil := testKey{alg: "RS256", kid: "evil", priv: rsaSecond()}
	plain := newProvider(t, jwks(evil)) // the cleartext hop, answered by the attacker
	var target atomic.Pointer[string]
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/jwks" {
			w.Write(jwks(good))
			return
		}
		http.Redirect(w, r, *target.Load(), http.StatusFound)
	}))
	t.Cleanup(tlsSrv.Close)
	cases := []struct {
		name, to string
		followed bool // the keys at the target are the ones in force
	}{
		{"redirect to http", plain.srv.URL + "/jwks", false},
		{"redirect within https", tlsSrv.URL + "/jwks", true},
	}
	for _, c := range cases {
		target.Store(&c.to)
		iss := testIssuer(tlsSrv.URL + "/moved")
		v := newTestVerifier(t, Config{Issuers: []Issuer{iss}, HTTPClient: tlsSrv.Client()})
		now := time.Now()
		if _, st := v.Verify(sign(evil, nil, claimsAt(now, nil)), now); st == OK {
			t.Errorf("%s: a token signed with the key served over http verified", c.name)
		}
		if c.followed {
			if _, st := v.Verify(sign(good, nil, claimsAt(now, nil)), now); st != OK {
				t.Errorf("%s: got %v, want ok", c.name, st)
			}
		}
	}
}

// TestWithdrawnKeySet: a provider that publishes a set with no usable
// key (empty, or only keys that must be skipped) withdraws every key: the
// held keys are refused from that refresh on, cached tokens included,
// rather than kept as after a failed fetch. A document that is not a set
// (no "keys" array) is a failed fetch and keeps them.
func TestWithdrawnKeySet(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	key := ks["ES256"]
	p := newProvider(t, jwks(key))
	v := newTestVerifier(t, Config{Issuers: []Issuer{testIssuer(p.srv.URL)}, MinRefetch: time.Hour})
	if err := v.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh with the key published: %v", err)
	}
	now := time.Now()
	tok := sign(key, nil, claimsAt(now, nil))
	if _, st := v.Verify(tok, now); st != OK {
		t.Fatalf("token before the withdrawal: got %v", st)
	}
	v.WaitCache()

	p.set([]byte(`{"not_keys":[]}`))
	if err := v.Refresh(t.Context()); err == nil {
		t.Fatal(`Refresh of a document without "keys": got nil error`)
	}
	if _, st := v.Verify(tok, now); st != OK {
		t.Errorf(`token after a document without "keys" (a failed fetch): got %v, want ok`, st)
	}

	for _, set := range []string{`{"keys":[]}`, `{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}]}`} {
		p.set(jwks(key))
		if err := v.Refresh(t.Context()); err != nil {
			t.Fatalf("Refresh with the key published again: %v", err)
		}
		if _, st := v.Verify(tok, now); st != OK {
			t.Fatalf("token with the key published again: got %v", st)
		}
		v.WaitCache()
		p.set([]byte(set))
		if err := v.Refresh(t.Context()); err == nil || !strings.Contains(err.Error(), "no usable key") {
			t.Errorf("Refresh of %s: %v; want an error saying the set holds no usable key", set, err)
		}
		if _, st := v.Verify(tok, now); st != UnknownKey {
			t.Errorf("cached token after %s: got %v, want unknown_key", set, st)
		}
		if _, st := v.Verify(sign(key, nil, claimsAt(now, map[string]any{"jti": "y"})), now); st != UnknownKey {
			t.Errorf("fresh token after %s: got %v, want unknown_key", set, st)
		}
		if got := v.Withdrawn(); len(got) != 1 || got[0] != "test" {
			t.Errorf("Withdrawn after %s: %v, want [test]", set, got)
		}
	}
}

// TestFetchFailuresReported: a JWKS fetch that fails reached no log, so a
// provider outage showed only as 401s. Every failed fetch is reported with
// the issuer's id and the cause, the first good fetch after failures once,
// and good fetches after that not at all.
func TestFetchFailuresReported(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	p := newProvider(t, jwks(ks["ES256"]))
	p.down.Store(true)
	type report struct {
		issuer string
		err    error
	}
	var mu sync.Mutex
	var got []report
	v, err := New(Config{
		Issuers:     []Issuer{testIssuer(p.srv.URL)},
		HTTPClient:  &http.Client{Timeout: 30 * time.Second},
		FetchReport: func(issuer string, err error) { mu.Lock(); got = append(got, report{issuer, err}); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	// Refresh returns after the fetch's report: the list is settled.
	reports := func() []report { mu.Lock(); defer mu.Unlock(); return append([]report(nil), got...) }
	for range 2 {
		if err := v.Refresh(t.Context()); err == nil {
			t.Fatal("Refresh with the provider down: got nil error")
		}
	}
	r := reports()
	if len(r) != 2 {
		t.Fatalf("after two failed fetches: %d reports %v, want 2", len(r), r)
	}
	for _, x := range r {
		if x.issuer != "test" || x.err == nil || !strings.Contains(x.err.Error(), "status 503") {
			t.Errorf("failed fetch reported as %q, %v; want issuer test and the 503", x.issuer, x.err)
		}
	}
	p.down.Store(false)
	for range 2 {
		if err := v.Refresh(t.Context()); err != nil {
			t.Fatalf("Refresh with the provider up: %v", err)
		}
	}
	r = reports()
	if len(r) != 3 || r[2].issuer != "test" || r[2].err != nil {
		t.Errorf("after two good fetches: reports %v, want one more, the recovery (nil error)", r)
	}
}

// TestHugeJWKSRefused: a JWK Set of thousands of keys was parsed whole,
// compared with the held set key by key (a refresh of 13,000 Ed25519 keys
// took 0.6 s, and a request joining it waited that long), and a set of
// 340,000 unusable entries, or one entry with a megabyte-long "kty", was
// reported in a log line of 10 MB at every retry. A set of more than
// maxJWKSKeys entries is a failed fetch naming the count (the held keys
// stay in use), and the reasons keys were skipped are bounded.
func TestHugeJWKSRefused(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	key := ks["ES256"]
	p := newProvider(t, jwks(key))
	var mu sync.Mutex
	var reports []error
	v := newTestVerifier(t, Config{Issuers: []Issuer{testIssuer(p.srv.URL)}, MinRefetch: time.Hour,
		FetchReport: func(_ string, err error) { mu.Lock(); reports = append(reports, err); mu.Unlock() }})
	now := time.Now()
	tok := sign(key, nil, claimsAt(now, nil))
	if _, st := v.Verify(tok, now); st != OK {
		t.Fatalf("token before the huge set: got %v", st)
	}

	many := `{"keys":[` + jwkJSON(key) + strings.Repeat(`,{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`, 5000) + `]}`
	empties := `{"keys":[{}` + strings.Repeat(`,{}`, 300000) + `]}`
	longKty := `{"keys":[{"kty":"` + strings.Repeat("A", 900000) + `"}]}`
	// In this order: a set with one key, and that one unusable, is
	// installed (the provider withdrew its keys), so it comes last.
	for _, c := range []struct{ name, set string }{{"5001 keys", many}, {"300001 empty entries", empties}, {"a 900 kB kty", longKty}} {
		name, set := c.name, c.set
		p.set([]byte(set))
		err := v.Refresh(t.Context())
		if err == nil {
			t.Errorf("Refresh of %s: got nil error", name)
			continue
		}
		if len(err.Error()) > 2048 {
			t.Errorf("Refresh of %s: error of %d bytes, want a bounded one", name, len(err.Error()))
		}
		if name != "a 900 kB kty" && !strings.Contains(err.Error(), "more than") {
			t.Errorf("Refresh of %s: %v; want it to name the bound", name, err)
		}
		if name == "5001 keys" {
			if _, st := v.Verify(sign(key, nil, claimsAt(now, map[string]any{"jti": "y"})), now); st != OK {
				t.Errorf("token after a refused huge set: got %v, want ok (held keys stay)", st)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, err := range reports {
		if err != nil && len(err.Error()) > 2048 {
			t.Errorf("fetch report of %d bytes, want a bounded one", len(err.Error()))
		}
	}
	if _, err := New(Config{Issuers: []Issuer{{ID: "inline", URL: testIss, JWKS: []byte(many), Audiences: []string{testAud}, Algorithms: []string{"ES256"}}}}); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("inline jwks of 5001 keys: got %v, want an error naming the bound", err)
	}
}

func jwkJSON(k testKey) string { return string(mustJSON(jwkOf(k))) }

// TestFetchErrorRedactsURLPassword: a jwks_url with a password
// (https://user:pass@idp/jwks, for a provider behind basic auth) went into
// the fetch error as it was, and so into the sidecar's log line, where the
// HTTP client's own errors leave the password out. The error names the
// URL with the password redacted. So was a token in its query
// (?access_token=...), the HTTP client's errors included (attack173): the
// query is redacted too.
func TestFetchErrorRedactsURLPassword(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	p := newProvider(t, jwks(ks["ES256"]))
	p.down.Store(true)
	u := strings.Replace(p.srv.URL, "http://", "http://jwks-reader:s3cr3t-pw@", 1) + "/jwks?access_token=qu3ry-t0ken"
	var mu sync.Mutex
	var reports []error
	v, err := New(Config{Issuers: []Issuer{testIssuer(u)}, HTTPClient: &http.Client{Timeout: 30 * time.Second},
		FetchReport: func(_ string, err error) { mu.Lock(); reports = append(reports, err); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	check := func(what string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error saying %q", what, err, want)
		} else if strings.Contains(err.Error(), "s3cr3t-pw") || strings.Contains(err.Error(), "qu3ry-t0ken") {
			t.Errorf("%s: error carries the URL's password or query token: %v", what, err)
		}
	}
	check("Refresh with the provider down", v.Refresh(t.Context()), "status 503")
	p.down.Store(false)
	p.set([]byte(`{"keys":[` + strings.Repeat(" ", maxJWKSBytes) + `]}`))
	check("Refresh of an oversized set", v.Refresh(t.Context()), "exceeds")
	p.srv.Close()
	check("Refresh with the provider gone", v.Refresh(t.Context()), "connection refused")
	mu.Lock()
	defer mu.Unlock()
	for _, err := range reports {
		check("fetch report", err, "jwks")
	}
}

// The refusal of a jwks_url that is not an absolute http(s) URL named it
// with its query: a token there (?access_token=...) reached the error,
// and so the log line of a policy the sidecar refuses.
func TestRefusedJWKSURLErrorRedactsQuery(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Issuers: []Issuer{testIssuer("ftp://jwks-reader:s3cr3t-pw@idp.example/jwks?access_token=qu3ry-t0ken#frag")}})
	if err == nil || !strings.Contains(err.Error(), "need an absolute http or https url") {
		t.Fatalf("New with an ftp jwks url: %v; want it refused", err)
	}
	if strings.Contains(err.Error(), "s3cr3t-pw") || strings.Contains(err.Error(), "qu3ry-t0ken") {
		t.Errorf("the refusal carries the URL's password or query token: %v", err)
	}
}

// TestRedirectRefusalRedactsQuery: a JWKS URL whose server redirects off
// https (to a presigned object URL, http://bucket/jwks?X-Amz-Signature=...),
// or to a Location the HTTP client cannot parse, is a failed fetch, and
// the error named the target with its query (the client's own error
// quotes the whole Location), which went into the fetch error and so the
// sidecar's log line, where every other fetch error redacts a URL's
// query (attack804). The target is named as logURL names the JWKS URL,
// password and query redacted, or not at all when it does not parse.
func TestRedirectRefusalRedactsQuery(t *testing.T) {
	t.Parallel()
	plain := newProvider(t, jwks(testKeys()["ES256"]))
	targets := map[string]string{ // by the path the server is asked for
		"/off-https":    strings.Replace(plain.srv.URL, "http://", "http://reader:s3cr3t-pw@", 1) + "/jwks?X-Amz-Signature=s3cr3t-sig#frag",
		"/bad-port":     "https://idp.example:bad/jwks?X-Amz-Signature=s3cr3t-sig",
		"/bad-host":     "https://[::1/jwks?X-Amz-Signature=s3cr3t-sig",
		"/bad-relative": "/jwks?X-Amz-Signature=s3cr3t-sig\x7f",
	}
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Location"] = []string{targets[r.URL.Path]}
		w.WriteHeader(http.StatusFound)
	}))
	t.Cleanup(tlsSrv.Close)
	for path, to := range targets {
		var mu sync.Mutex
		var reports []error
		hc := tlsSrv.Client()
		hc.Timeout = 30 * time.Second
		v, err := New(Config{Issuers: []Issuer{testIssuer(tlsSrv.URL + path)}, HTTPClient: hc,
			FetchReport: func(_ string, err error) { mu.Lock(); reports = append(reports, err); mu.Unlock() }})
		if err != nil {
			t.Fatal(err)
		}
		errs := []error{v.Refresh(t.Context())}
		v.Close()
		mu.Lock()
		errs = append(errs, reports...)
		mu.Unlock()
		for _, err := range errs {
			if err == nil {
				t.Errorf("redirect to %q: got no error, want a failed fetch", to)
			} else if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("redirect to %q: the error carries the target's password or query: %v", to, err)
			}
		}
	}
}

// TestJWKMembersReadByExactName: a JWK's members were read as
// encoding/json fills a struct, matching names ignoring case and keeping
// the last, so a key the provider marked "use":"enc" or "key_ops":
// ["encrypt"] became a signing key with a "USE":"sig" or "KEY_OPS":
// ["verify"] behind it, where a JOSE library reading the registered
// names refuses it (RFC 7517 §4.2, §4.3; attack804). Such a key, and one
// holding a member twice, is skipped; a read member alone in another
// case ("KTY") is too, and other members' cases do not matter. A set
// whose "keys" comes twice or in another case is no set.
func TestJWKMembersReadByExactName(t *testing.T) {
	t.Parallel()
	j := jwkJSON(testKeys()["ES256"])
	for _, c := range []struct {
		extra string
		used  bool
	}{
		{`"use":"enc","USE":"sig",`, false},
		{`"key_ops":["encrypt"],"KEY_OPS":["verify"],`, false},
		{`"use":"sig","use":"enc",`, false},
		{`"kid":"other","KID":"ec-1",`, false},
		{`"Use":"sig",`, false},
		{`"X5T":"abc","x5t":"abc",`, false},
		{`"use":"sig","key_ops":["verify"],"X5T":"abc",`, true},
	} {
		doc := `{"keys":[{` + c.extra + j[1:] + `]}`
		ks, _ := parseJWKS([]byte(doc))
		if used := ks != nil && len(ks.all) == 1; used != c.used {
			t.Errorf("key with %s: used %v, want %v", c.extra, used, c.used)
		}
	}
	// The set's own "keys": encoding/json read a "KEYS" after it instead.
	for _, doc := range []string{`{"keys":[],"KEYS":[` + j + `]}`, `{"KEYS":[` + j + `]}`, `{"keys":[],"keys":[` + j + `]}`} {
		if ks, err := parseJWKS([]byte(doc)); err == nil || ks != nil && len(ks.all) > 0 {
			t.Errorf("set %s: got %v keys, error %v; want it refused", doc, ks != nil && len(ks.all) > 0, err)
		}
	}
}

// TestProxyRefusalNotQuoted: a JWKS fetched through an HTTPS proxy that
// refuses the CONNECT had the proxy's reason phrase in the fetch error,
// and so in the log line, as net/http quotes it; a proxy that cannot be
// reached is "proxy connect failed" (attack804).
func TestProxyRefusalNotQuoted(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					c.Write([]byte("HTTP/1.1 407 s3cr3t-reason\r\nContent-Length: 0\r\n\r\n"))
				}
			}()
		}
	}()
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone.Close()
	for _, c := range []struct{ proxy, want string }{
		{"http://" + ln.Addr().String(), "malformed or unreadable response"},
		{"http://" + gone.Addr().String(), "proxy connect failed"},
	} {
		pu, _ := url.Parse(c.proxy)
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
		v, err := New(Config{Issuers: []Issuer{testIssuer("https://idp.example/jwks")}, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		err = v.Refresh(t.Context())
		v.Close()
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("fetch through proxy %s: got %v, want an error saying %q and nothing the proxy sent", c.proxy, err, c.want)
		}
	}
}

// TestJWKPrivateMembersSkipped: a JWK carrying a private or secret member
// (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2), in any case, is skipped:
// a published set holding one lets whoever reads it sign
// (dataplane's TestJWKSPrivateKeyRefused, attack813).
func TestJWKPrivateMembersSkipped(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		j := jwkJSON(testKeys()[alg])
		for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "D", "Qi"} {
			doc := `{"keys":[{"` + m + `":"AQAB",` + j[1:] + `]}`
			if ks, _ := parseJWKS([]byte(doc)); ks == nil || len(ks.all) != 0 {
				t.Errorf("%s key with %q: used, want skipped", alg, m)
			}
		}
		if ks, err := parseJWKS([]byte(`{"keys":[{"x5t":"AQAB",` + j[1:] + `]}`)); err != nil || len(ks.all) != 1 {
			t.Errorf("%s key with a public member besides: %v, want used", alg, err)
		}
	}
}
