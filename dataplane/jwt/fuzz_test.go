package jwt

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// Deterministic keys for the fuzz corpus in testdata/fuzz/FuzzParse,
// whose valid tokens were signed with them (exp 2100-01-01).
var (
	fuzzHMAC   = []byte("fuzz-secret-fuzz-secret-fuzz-secret!")
	fuzzEdSeed = []byte("portcullis-jwt-fuzz-ed25519-seed")
	fuzzNow    = time.Unix(1_900_000_000, 0)
)

func fuzzVerifier(tb testing.TB) (*Verifier, map[string]testKey) {
	tb.Helper()
	ed := testKey{alg: "EdDSA", kid: "fuzz-ed", priv: ed25519.NewKeyFromSeed(fuzzEdSeed)}
	hs := testKey{alg: "HS256", priv: fuzzHMAC}
	v, err := New(Config{Issuers: []Issuer{{
		ID: "fuzz", URL: testIss, Audiences: []string{testAud},
		Algorithms: []string{"HS256", "EdDSA"}, HMACSecret: fuzzHMAC, JWKS: jwks(ed),
	}}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(v.Close)
	return v, map[string]testKey{"HS256": hs, "EdDSA": ed}
}

// fuzzValid are the tokens in the corpus that are properly signed.
func fuzzValid(ks map[string]testKey) map[string]bool {
	const payload = `{"iss":"https://issuer.test","aud":"api://portcullis","sub":"fuzz","scope":"read write","exp":4102444800}`
	return map[string]bool{
		string(signRaw(ks["HS256"], `{"alg":"HS256","typ":"at+jwt"}`, payload)):              true,
		string(signRaw(ks["EdDSA"], `{"alg":"EdDSA","kid":"fuzz-ed","typ":"JWT"}`, payload)): true,
	}
}

// FuzzParse feeds arbitrary tokens to the parser and to Verify. Neither
// may panic, and Verify may return OK only for the known signed tokens:
// a mutation of a signed token changes its signing input or signature.
func FuzzParse(f *testing.F) {
	v, ks := fuzzVerifier(f)
	valid := fuzzValid(ks)
	for tok := range valid {
		f.Add([]byte(tok))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if tk, st := parse(raw); (st == OK) != (tk != nil) {
			t.Fatalf("parse: status %v with token %v", st, tk)
		}
		c, st := v.Verify(raw, fuzzNow)
		if (st == OK) != (c != nil) {
			t.Fatalf("Verify: status %v with claims %v", st, c)
		}
		if st == OK && !valid[string(raw)] {
			t.Fatalf("Verify accepted a token that was not signed: %q", raw)
		}
	})
}

func TestFuzzCorpusValidTokensVerify(t *testing.T) {
	t.Parallel()
	v, ks := fuzzVerifier(t)
	for tok := range fuzzValid(ks) {
		if _, st := v.Verify([]byte(tok), fuzzNow); st != OK {
			t.Errorf("corpus token %.20q...: got %v, want ok", tok, st)
		}
	}
}
