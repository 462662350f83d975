package dataplane

import (
	"bytes"
	"math/rand"
	"slices"
	"testing"

	"github.com/portcullis/portcullis/policy"
)

// aspNetParse is a straight reading of ASP.NET Core's cookie parser
// (src/Http/Shared/CookieHeaderParserShared.cs in dotnet/aspnetcore), in
// its own quadratic time, for TestASPNetNamesAsItsParser: TryParseValues
// calls TryParseValue at index, and on a failure tries again one byte on
// ("index++"). It returns the offset in v of each name it parses.
func aspNetParse(v []byte) []int {
	var names []int
	for i := 0; i < len(v); {
		if ok, at, next := aspNetTry(v, i); ok {
			if at >= 0 {
				names = append(names, at)
			}
			i = next
		} else {
			i++
		}
	}
	return names
}

// aspNetTry is TryParseValue: blanks, ',' and ';' skipped
// (GetNextNonEmptyOrWhitespaceIndex), a token (GetTokenLength), '=' with
// no spaces (ReadEqualsSign), a value of cookie-octets, quoted or not
// (GetCookieValue), and then only blanks and a separator, or the end.
// at is the name's offset, -1 for none (the end reached).
func aspNetTry(v []byte, i int) (ok bool, at, next int) {
	i, _ = aspNetSeparator(v, i)
	if i == len(v) {
		return true, -1, i
	}
	at = i
	for i < len(v) && policy.CookieTchar(v[i]) {
		i++
	}
	if i == at || i == len(v) || v[i] != '=' {
		return false, 0, 0
	}
	i++
	if i < len(v) {
		quoted := v[i] == '"'
		if quoted {
			i++
		}
		for i < len(v) && cookieOctet(v[i]) {
			i++
		}
		if quoted && i < len(v) && v[i] == '"' {
			i++
		}
	}
	i, sep := aspNetSeparator(v, i)
	if !sep && i < len(v) {
		return false, 0, 0
	}
	return true, at, i
}

// aspNetSeparator is GetNextNonEmptyOrWhitespaceIndex: blanks, then at
// most one run of ',', ';' and blanks; sep says a separator was there.
func aspNetSeparator(v []byte, i int) (int, bool) {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	if i == len(v) || v[i] != ',' && v[i] != ';' {
		return i, false
	}
	for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == ',' || v[i] == ';') {
		i++
	}
	return i, true
}

// TestASPNetNamesAsItsParser holds aspNetNames, which reads in linear time
// the names ASP.NET Core's parser reads inside a pair past its head, to
// that parser read straight (aspNetParse), on random Cookie values made
// of the bytes that steer it: a name it reads that aspNetNames misses is
// a cookie of refuse_cookies that crosses to an ASP.NET Core service; one
// aspNetNames reads that the parser does not is a valid cookie refused
// (review111: "back=/app?token=x"). The head of each pair is read by
// upToEqual, so the parser's names at a pair's head are left out.
func TestASPNetNamesAsItsParser(t *testing.T) {
	alphabet := []byte("as=\"/?@ ;,\t=s\\\xc3(")
	n := 100000
	if testing.Short() {
		n = 10000
	}
	r := rand.New(rand.NewSource(1))
	v := make([]byte, 0, 16)
	for range n {
		v = v[:1+r.Intn(14)]
		for i := range v {
			v[i] = alphabet[r.Intn(len(alphabet))]
		}
		heads := map[int]bool{}
		var got []int
		for rest := v; len(rest) > 0; {
			pair := rest
			if i := bytes.IndexAny(rest, ";,"); i >= 0 {
				pair, rest = rest[:i], rest[i+1:]
			} else {
				rest = nil
			}
			off := cap(v) - cap(pair) // pair's offset in v
			h := 0
			for h < len(pair) && (pair[h] == ' ' || pair[h] == '\t') {
				h++
			}
			heads[off+h] = true
			aspNetNames(pair, func(name []byte) bool {
				got = append(got, off+cap(pair)-cap(name))
				return false
			})
		}
		var want []int
		for _, at := range aspNetParse(v) {
			if !heads[at] {
				want = append(want, at)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%q: ASP.NET Core's parser reads names at %v past the pairs' heads, aspNetNames at %v", v, want, got)
		}
	}
}
