package evidence

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
)

// TestScanFindsEncodedCredentialAfterEquals: '=' is base64's padding, so
// a query or form parameter's name and '=' (`api_key=`, `token=`) joined
// the base64 run that follows; with four or more characters before it, no
// decoding offset got past the '=' and the encoded key passed the scan.
func TestScanFindsEncodedCredentialAfterEquals(t *testing.T) {
	const key = "pk_acmehris1_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
	for _, text := range []string{
		"/v1/x?api_key=" + base64.StdEncoding.EncodeToString([]byte(key)),
		"token=" + base64.RawURLEncoding.EncodeToString([]byte(key)),
		"a=b&auth=" + base64.StdEncoding.EncodeToString([]byte("u:"+key)),
		base64.StdEncoding.EncodeToString([]byte("x")) + base64.StdEncoding.EncodeToString([]byte(key)),
	} {
		var tl tally
		tl.scan(&collector.StoredRecord{UserAgent: text})
		if tl.scanHits != 1 {
			t.Errorf("%q: encoded key not found (hits %d)", text, tl.scanHits)
		}
		if s := scanFiles([]packFile{{name: "f.csv", data: []byte("a," + text + "\n")}}); len(s.hits) != 1 {
			t.Errorf("%q: not found in a pack file (hits %v)", text, s.hits)
		}
	}
}

// TestScanFindsStdBase64AfterURLCharacters: a run holding '-' or '_' was
// decoded with the URL alphabet only, so a standard encoding holding '+'
// or '/' after `key_` or a path with a dash failed to decode and passed.
func TestScanFindsStdBase64AfterURLCharacters(t *testing.T) {
	const key = "pk_acmehris1_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
	found := 0
	for _, user := range []string{"?", "??", "???", "~~", "~~~", ">>>", "ci-bot"} {
		enc := base64.StdEncoding.EncodeToString([]byte(user + ":" + key))
		if !strings.ContainsAny(enc, "+/") {
			continue
		}
		found++
		for _, text := range []string{"key_" + enc, "/my-keys/" + enc} {
			var tl tally
			tl.scan(&collector.StoredRecord{UserAgent: text})
			if tl.scanHits != 1 {
				t.Errorf("%q: encoded key not found (hits %d)", text, tl.scanHits)
			}
		}
	}
	if found == 0 {
		t.Fatal("no encoding with '+' or '/' among the users tried")
	}
}
