package credential

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// TestEncodedLiteralsAreNotHex holds the premise of HidesEncoded's
// skip of hex runs: the base64 encoding of each pattern's literal, at
// each of the three alignments and after any byte, holds a character
// that is neither a hex digit nor a dash.
func TestEncodedLiteralsAreNotHex(t *testing.T) {
	for _, p := range Patterns {
		for _, lit := range []string{p.Literal, strings.ToUpper(p.Literal), strings.ToUpper(p.Literal[:1]) + p.Literal[1:]} {
			for pad := range 3 {
				for c := range 256 {
					src := append(bytes.Repeat([]byte{byte(c)}, pad), lit...)
					enc := base64.StdEncoding.EncodeToString(src)
					// The characters that depend on the literal alone.
					from, to := (pad*8+5)/6, (pad+len(lit))*8/6
					if strings.Trim(enc[from:to], "0123456789abcdefABCDEF-") == "" {
						t.Errorf("%q after %d bytes of %#x encodes to %q, all hex", lit, pad, c, enc)
					}
				}
			}
		}
	}
}
