package jwt

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseJWKS feeds parseJWKS arbitrary JWK Sets (seed corpus in
// testdata/fuzz/FuzzParseJWKS: every key type, and the shapes RFC 7517
// §5 says to skip). A set either fails, or is empty with errNoUsableKey,
// or holds only usable verification keys, each findable by its kid.
func FuzzParseJWKS(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		ks, err := parseJWKS(b)
		if errors.Is(err, errNoUsableKey) {
			if ks == nil || len(ks.all) != 0 {
				t.Fatalf("error %v with %v; want the empty set", err, ks)
			}
			return
		}
		if err != nil {
			if ks != nil {
				t.Fatalf("error %v with a key set", err)
			}
			return
		}
		if len(ks.all) == 0 {
			t.Fatal("a set without usable keys was accepted")
		}
		for _, k := range ks.all {
			checkFuzzedKey(t, ks, k)
		}
		again, err := parseJWKS(b)
		if err != nil || again.lostKeys(ks) || ks.lostKeys(again) {
			t.Fatalf("parsing again gave %v (err %v): parseJWKS is not deterministic", again, err)
		}
	})
}

// checkFuzzedKey checks that k is a usable verification key of ks.
func checkFuzzedKey(t *testing.T, ks *keySet, k *key) {
	t.Helper()
	switch k.kind {
	case kindRSA:
		if bits := k.rsa.N.BitLen(); bits < minRSABits || bits > maxRSABits || k.rsa.E < 3 || k.rsa.E%2 == 0 {
			t.Fatalf("RSA key of %d bits, e %d accepted", bits, k.rsa.E)
		}
	case kindEC:
		if k.ec == nil {
			t.Fatal("EC key without material")
		}
	case kindEd:
		if len(k.ed) != 32 {
			t.Fatalf("Ed25519 key of %d bytes", len(k.ed))
		}
	default:
		t.Fatalf("key of kind %d accepted", k.kind)
	}
	if k.alg != algInvalid && k.alg.keyKind() != k.kind {
		t.Fatalf("alg %v accepted for key kind %d", k.alg, k.kind)
	}
	if k.hasKID && !slices.Contains(ks.byKID[k.kid], k) {
		t.Fatalf("key %q not found by its kid", k.kid)
	}
}

// TestFuzzJWKSCorpusHoldsKeys keeps the seed corpus meaningful: the valid
// seeds parse to the keys they hold.
func TestFuzzJWKSCorpusHoldsKeys(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]int{"okp": 1, "rsa_ec_okp": 3, "dup_kid": 2, "padded": 1} {
		b, err := os.ReadFile("testdata/fuzz/FuzzParseJWKS/" + name)
		if err != nil {
			t.Fatal(err)
		}
		line := strings.TrimSuffix(strings.SplitN(string(b), "\n", 3)[1], "\n")
		doc, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ks, err := parseJWKS([]byte(doc))
		if err != nil || len(ks.all) != want {
			t.Errorf("%s: got %v keys, err %v; want %d", name, ks, err, want)
		}
	}
}
