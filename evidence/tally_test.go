package evidence

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/credential"
)

// TestLiteralsIn holds the scan's one-read test for the patterns'
// literals to a substring search per pattern and text (in any case for
// the bearer string), the test it replaced.
func TestLiteralsIn(t *testing.T) {
	want := func(texts []string) uint {
		var held uint
		for k, p := range credential.Patterns {
			for _, s := range texts {
				if (p.Fold && strings.Contains(strings.ToLower(s), p.Literal)) || (!p.Fold && strings.Contains(s, p.Literal)) {
					held |= 1 << k
				}
			}
		}
		return held
	}
	var tl tally // one for all: a text is not read again when it repeats
	for _, texts := range [][]string{
		{"/v1/users/12345", "integration-sdk/1.4 (linux)"},
		{"curl/8 BeArEr abcdefgh"}, {"bearer"}, {"beare"}, {"xbearer"}, {"Bearerr"},
		{"/x/pk_live_abcdefghijklmnopq"}, {"pk"}, {"p", "k_"}, {"eyJ"}, {"eyj", "eJy"}, {"leyJhbGciOi"},
		{"a", "b", "pk_", "zbEARER", "eyJ"}, {""}, {"a", "b", "pk_", "zbEARER", "eyJ"}, {"a", "b", "pk_", "zbEARER", "eyJx"}, {"a", "b"},
	} {
		r := collector.StoredRecord{Attributes: map[string]string{}}
		fields := []*string{&r.Path, &r.UserAgent, &r.Body, &r.Client, &r.KeyID, &r.Issuer, &r.RequestID, &r.Route}
		for i, s := range texts {
			*fields[i] = s
		}
		if got, w := tl.literalsIn(&r), want(texts); got != w {
			t.Errorf("%q: literalsIn = %b, want %b", texts, got, w)
		}
		r = collector.StoredRecord{Attributes: map[string]string{texts[0]: strings.Join(texts[1:], " ")}}
		if got, w := tl.literalsIn(&r), want([]string{texts[0], strings.Join(texts[1:], " ")}); got != w {
			t.Errorf("attribute %q: literalsIn = %b, want %b", texts, got, w)
		}
	}
}
