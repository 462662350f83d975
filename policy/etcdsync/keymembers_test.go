package etcdsync

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCheckKeyMembers: the scan finds a member named twice, spelt in
// another case (Unicode folding included) or with an escape in its name,
// through white space and escaped quotes in values, and passes a record
// as etcdadmin writes it.
func TestCheckKeyMembers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ v, want string }{
		{`{"id":"k1","client":"acme","sha256":"ab","not_after":"2036-11-30T20:30:17Z","revoked":true}`, ""},
		{`{"id":"a", "revoked" : true , "revoked":false}`, `member "revoked" appears twice`},
		{`{"id":"a\",\"revoked\":1","revoked":false}`, ""},
		{`{"\u0072evoked":true}`, `member name "\\u0072evoked" holds an escape`},
		{`{"ſha256":"x"}`, `member "ſha256" is spelt in another case than "sha256"`},
		{`{"NOT_AFTER":"2001-01-01T00:00:00Z","not_after":""}`, `member "NOT_AFTER" is spelt in another case than "not_after"`},
		{` { "id" : "a\\" , "id":"b"}`, `member "id" appears twice`},
		{`{"expires":"x","id":"a","id":"b"}`, ""}, // unknown: the decoder names it
		{`[1]`, ""},
	} {
		got := ""
		if err := checkKeyMembers(c.v); err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("checkKeyMembers(%s) = %q, want %q", c.v, got, c.want)
		}
	}
}

// FuzzKeyMembers: a record decodeKey accepts has no member that a token
// decoder finds named twice or in another spelling than its field's.
func FuzzKeyMembers(f *testing.F) {
	f.Add(`{"id":"abcdefgh","client":"acme","sha256":"ab"}`)
	f.Add(`{"id":"abcdefgh","ID":"abcdefgh"}`)
	f.Add(`{"id":"abcdefgh","revoked":true,"revoked":false}`)
	f.Fuzz(func(t *testing.T, v string) {
		if _, err := decodeKey("abcdefgh", v); err != nil {
			return
		}
		dec := json.NewDecoder(strings.NewReader(v))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("decodeKey accepted %q, not an object", v)
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatalf("decodeKey accepted %q: %v", v, err)
			}
			name := tok.(string)
			if n := memberIndex(name); n < 0 || keyMembers[n] != name || seen[name] {
				t.Fatalf("decodeKey accepted %q with member %q", v, name)
			}
			seen[name] = true
			if _, err := dec.Token(); err != nil {
				t.Fatalf("decodeKey accepted %q: %v", v, err)
			}
		}
	})
}
