package credential

import (
	"bytes"
	"strings"
	"testing"
)

const (
	testKey = "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"
	testJWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
)

// TestMaskClearsWhatRedactClears: what Mask leaves of a text holds no API
// key secret or JWT that Redact or Patterns would find, the key id kept;
// a text without one is left as it is.
func TestMaskClearsWhatRedactClears(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/users/" + testKey:         "/v1/users/pk_acmehris1_" + strings.Repeat("*", 36),
		"sdk PK" + testKey[2:] + "/x":  "sdk PK_acmehris1_" + strings.Repeat("*", 36) + "/x",
		"cli/1.0 " + testJWT + " (ok)": "cli/1.0 eyJ" + strings.Repeat("*", len(testJWT)-3) + " (ok)",
		"/login/" + testJWT:            "/login/eyJ" + strings.Repeat("*", len(testJWT)-3),
		"/v1/pk_list/pk_a_short":       "/v1/pk_list/pk_a_short",
		"/v1/honeyJar/keyJ.abcd.ef":    "/v1/honeyJar/keyJ.abcd.ef",
		"/v1/snake_case/JSON":          "/v1/snake_case/JSON",
		"Mozilla/5.0 (X11; Linux)":     "Mozilla/5.0 (X11; Linux)",
	} {
		b := []byte(in)
		if Mask(b); string(b) != want {
			t.Errorf("Mask(%q) = %q, want %q", in, b, want)
		}
		if got := Redact(string(b)); got != string(b) || plainMatch(string(b)) {
			t.Errorf("Mask(%q) = %q, where Redact still finds a credential: %q", in, b, got)
		}
	}
}

// TestMaskEveryOffset: a key or a JWT is masked wherever it stands in a
// text of up to three words, the eight-byte check's overlapping tail
// included, and mayHold finds a '_' or 'J' at every offset.
func TestMaskEveryOffset(t *testing.T) {
	for n := 0; n <= 24; n++ {
		plain := bytes.Repeat([]byte("a/-.9Zj"), 4)[:n]
		if mayHold(plain) {
			t.Fatalf("%q: found a '_' or 'J' in text without one", plain)
		}
		for i := range n {
			for _, c := range []byte{'_', 'J'} {
				b := bytes.Clone(plain)
				b[i] = c
				if !mayHold(b) {
					t.Errorf("%q: missed the %q at %d", b, c, i)
				}
			}
		}
		for _, cred := range []string{testKey, testJWT} {
			b := []byte(string(plain) + " " + cred + " " + string(plain))
			if Mask(b); bytes.Contains(b, []byte(cred[len(cred)-20:])) {
				t.Errorf("%q: the credential is left", b)
			}
		}
	}
}

// TestMaskAllocations: Mask runs on the request path.
func TestMaskAllocations(t *testing.T) {
	b := []byte("/v1/users/" + testKey + " " + testJWT)
	if n := testing.AllocsPerRun(100, func() { Mask(b) }); n != 0 {
		t.Errorf("Mask allocates %v times, want 0", n)
	}
}

// TestMaskCut: a key's secret that runs to the end of a cut text is
// masked whatever its length; Mask keeps a short one, and MaskCut one
// that ends before the cut or a key cut in its id.
func TestMaskCut(t *testing.T) {
	for _, c := range []struct{ in, cut, mask string }{
		{"/v1/pk_acme1_Secr", "/v1/pk_acme1_****", "/v1/pk_acme1_Secr"},
		{"ua pk_acme1_S", "ua pk_acme1_*", "ua pk_acme1_S"},
		{"pk_a_bc d", "pk_a_bc d", "pk_a_bc d"},
		{"x pk_acme1", "x pk_acme1", "x pk_acme1"},
		{"x pk_acme1_", "x pk_acme1_", "x pk_acme1_"},
	} {
		b := []byte(c.in)
		if MaskCut(b); string(b) != c.cut {
			t.Errorf("MaskCut(%q) = %q, want %q", c.in, b, c.cut)
		}
		b = []byte(c.in)
		if Mask(b); string(b) != c.mask {
			t.Errorf("Mask(%q) = %q, want %q", c.in, b, c.mask)
		}
	}
}
