package dataplane

import (
	"math/rand/v2"
	"testing"
)

// checkCommonNameLen fails t unless commonNameLen(line) is 0 or the
// length tokenLen finds with a colon after it: what scanHeaders read
// before commonNameLen.
func checkCommonNameLen(t *testing.T, line []byte) {
	t.Helper()
	k := commonNameLen(line)
	if k == 0 {
		return
	}
	if want := tokenLen(line); k != want || k == len(line) || line[k] != ':' {
		t.Fatalf("commonNameLen(%q) = %d; tokenLen %d", line, k, want)
	}
}

// TestCommonNameLenSame holds commonNameLen to tokenLen and the colon:
// each of its three names in every case is found, and a line with any
// byte of its first eleven changed to any other byte is either found as
// one of the three or left to tokenLen (0); 200,000 random lines too.
func TestCommonNameLenSame(t *testing.T) {
	for _, name := range []string{"host", "x-api-key", "user-agent"} {
		var letters []int
		for i := range len(name) {
			if c := name[i]; c >= 'a' && c <= 'z' {
				letters = append(letters, i)
			}
		}
		for mask := range 1 << len(letters) {
			line := []byte(name + ": value\r")
			for j, i := range letters {
				if mask>>j&1 != 0 {
					line[i] -= 'a' - 'A'
				}
			}
			if k := commonNameLen(line); k != len(name) {
				t.Fatalf("commonNameLen(%q) = %d, want %d", line, k, len(name))
			}
			for i := range 11 {
				keep := line[i]
				for c := range 256 {
					line[i] = byte(c)
					checkCommonNameLen(t, line)
					checkCommonNameLen(t, line[:i+1]) // cut there
				}
				line[i] = keep
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("hostHOSTx-apiAPIkeyKEYuserUSERagentAGENT:\r\n _\t\x00\xff\x0d\x2d")
	for range 200_000 {
		line := make([]byte, r.IntN(14))
		for i := range line {
			if r.IntN(4) == 0 {
				line[i] = byte(r.IntN(256))
			} else {
				line[i] = alphabet[r.IntN(len(alphabet))]
			}
		}
		checkCommonNameLen(t, line)
	}
}
