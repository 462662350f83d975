package audit

import (
	"bytes"
	"testing"
)

// TestMayHoldCredentialEveryOffset: the eight-bytes-at-a-time check finds
// a '_' or a 'J' at every offset of every length up to three words, the
// overlapping tail included, and nothing in text without one.
func TestMayHoldCredentialEveryOffset(t *testing.T) {
	for n := 0; n <= 24; n++ {
		plain := bytes.Repeat([]byte("a/-.9Zj"), 4)[:n]
		if mayHoldCredential(plain) {
			t.Fatalf("%q: found a '_' or 'J' in text without one", plain)
		}
		for i := range n {
			for _, c := range []byte{'_', 'J'} {
				b := bytes.Clone(plain)
				b[i] = c
				if !mayHoldCredential(b) {
					t.Errorf("%q: missed the %q at %d", b, c, i)
				}
			}
		}
	}
}

// TestMaskCredentials: the rest of a key from its prefix, in any case,
// and of a JWT from its start, is masked up to the end of its run; other
// text is kept.
func TestMaskCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/users/pk_ab_cd/x":  "/v1/users/pk_*****/x",
		"Pk_a":                  "Pk_*",
		"x eyJh.b-c_d y":        "x eyJ******* y",
		"eyJ":                   "eyJ",
		"/v1/snake_case/JSON":   "/v1/snake_case/JSON",
		"pk_a pK_b":             "pk_* pK_*",
		"sdk/1.0 (linux; pk_k)": "sdk/1.0 (linux; pk_*)",
	} {
		b := []byte(in)
		if maskCredentials(b); string(b) != want {
			t.Errorf("mask %q = %q, want %q", in, b, want)
		}
	}
}
