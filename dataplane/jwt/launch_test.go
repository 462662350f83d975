package jwt

import (
	"slices"
	"testing"
	"time"
)

// TestLaunchNeverWaitsOnRequest is issue 13 item 3 at the verifier: after
// Launch, a token of an issuer whose first fetch has not completed is
// refused with KeysUnavailable at once (not after RefetchWait), the issuer
// is Pending, and it verifies once the background fetch succeeds.
func TestLaunchNeverWaitsOnRequest(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	p := newProvider(t, jwks(ks["EdDSA"]))
	block := make(chan struct{})
	p.hang.Store(&block)
	seen := make(chan struct{}, 100)
	p.notify.Store(&seen)
	v, err := New(Config{Issuers: []Issuer{testIssuer(p.srv.URL)}, RefetchWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	if !v.Launch(t.Context()) {
		t.Fatal("Launch: got false, want true")
	}
	<-seen // the first fetch reached the provider and hangs there
	now := time.Now()
	tok := sign(ks["EdDSA"], nil, claimsAt(now, nil))
	// With RefetchWait an hour, a Verify that waited on the fetch would
	// not return before the provider is released below.
	if _, st := v.Verify(tok, now); st != KeysUnavailable {
		t.Errorf("before the first fetch: got %v, want keys_unavailable", st)
	}
	if got := v.Pending(); !slices.Equal(got, []string{"test"}) {
		t.Errorf("Pending() = %q, want [test]", got)
	}
	p.hang.Store(nil)
	close(block)
	if err := v.WaitFirst(t.Context()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		now := time.Now()
		if _, st := v.Verify(sign(ks["EdDSA"], nil, claimsAt(now, nil)), now); st == OK {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("after the provider answered: got %v, want ok", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := v.Pending(); len(got) != 0 {
		t.Errorf("Pending() after the fetch = %q, want none", got)
	}
}

// TestAdoptKeepsKeys: a verifier rebuilt for a policy change serves an
// issuer whose JWKS URL did not change with the keys the old one held,
// even while its own first fetch hangs.
func TestAdoptKeepsKeys(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	p := newProvider(t, jwks(ks["ES256"]))
	old := newTestVerifier(t, Config{Issuers: []Issuer{testIssuer(p.srv.URL)}})
	block := make(chan struct{})
	defer close(block)
	p.hang.Store(&block)
	iss := testIssuer(p.srv.URL)
	iss.Audiences = append(iss.Audiences, "another")
	v, err := New(Config{Issuers: []Issuer{iss}, RefetchWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	v.Adopt(old)
	v.Launch(t.Context())
	now := time.Now()
	if _, st := v.Verify(sign(ks["ES256"], nil, claimsAt(now, nil)), now); st != OK {
		t.Errorf("with adopted keys: got %v, want ok", st)
	}
	if got := v.Pending(); len(got) != 0 {
		t.Errorf("Pending() = %q, want none", got)
	}
}

// TestFailedFirstFetchRetried: a provider that is down for the first fetch
// is asked again in the background (from a second, doubling), long before
// RefreshInterval, so its issuer starts working when it comes back without
// any request waiting for it.
func TestFailedFirstFetchRetried(t *testing.T) {
	t.Parallel()
	ks := testKeys()
	p := newProvider(t, jwks(ks["RS256"]))
	p.down.Store(true)
	v, err := New(Config{Issuers: []Issuer{testIssuer(p.srv.URL)}, RefreshInterval: time.Hour, RefetchWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	v.Launch(t.Context())
	if err := v.WaitFirst(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := v.Pending(); !slices.Equal(got, []string{"test"}) {
		t.Fatalf("Pending() after a failed first fetch = %q, want [test]", got)
	}
	p.down.Store(false)
	deadline := time.Now().Add(30 * time.Second)
	for len(v.Pending()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("issuer still pending after the provider came back (%d fetches)", p.count.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	now := time.Now()
	if _, st := v.Verify(sign(ks["RS256"], nil, claimsAt(now, nil)), now); st != OK {
		t.Errorf("after the retry: got %v, want ok", st)
	}
}
