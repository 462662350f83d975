package evidence

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
)

// TestScanFindsEncodedCredentials: a credential that reaches the trail
// encoded is still a credential. A client sending its API key as HTTP
// Basic (`Basic base64(key:)`, or the key as the password after any
// user name), in a percent-encoded path, or a token base64-wrapped once
// more, put it in a record the scan passed. Each now counts, in a record,
// an event and a pack file, and the report names the record without the
// encoded text.
func TestScanFindsEncodedCredentials(t *testing.T) {
	const key = "pk_acmehris1_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	b64 := base64.StdEncoding.EncodeToString
	hidden := map[string]string{
		"basic, key as user":            "Basic " + b64([]byte(key+":")),
		"basic, key as password":        "Authorization: Basic " + b64([]byte("ci-bot:"+key)),
		"basic, password after 2 bytes": "Basic " + b64([]byte("ab:"+key)),
		"base64url, unpadded":           base64.RawURLEncoding.EncodeToString([]byte(`{"k":"` + key + `"}`)),
		"after alphabet characters":     "key_" + b64([]byte(key)),
		"percent-encoded path":          "/v1/keys/" + strings.ReplaceAll(key, "_", "%5F"),
		"percent-encoded every byte":    "/v1/x?" + pctAll(key),
		"base64 of a JWT":               b64([]byte(jwt)),
	}
	for name, text := range hidden {
		var tl tally
		tl.scan(&collector.StoredRecord{UserAgent: text, RequestID: text})
		if tl.scanHits != 1 {
			t.Errorf("%s: %q not found in a record (hits %d)", name, text, tl.scanHits)
		}
		if strings.Contains(tl.scanLines.String(), text) {
			t.Errorf("%s: the scan's report copies the encoded credential: %s", name, tl.scanLines.String())
		}
		b := &builder{events: []collector.Event{{Reason: text}}, tally: &tally{}}
		b.tally.addEvent(b, 0, entryPos{})
		if b.tally.eventHits != 1 {
			t.Errorf("%s: not found in an event's reason", name)
		}
		if s := scanFiles([]packFile{{name: "f.csv", data: []byte("a,b\nc," + text + "\n")}}); len(s.hits) != 1 {
			t.Errorf("%s: not found in a pack file (hits %v)", name, s.hits)
		}
	}
	// Text that only looks encoded passes: request ids, hashes, paths.
	clean := []string{"3f2a9c1e-7b44-4c1d-9a0e-5d2b8f6e1a37", strings.Repeat("ab12", 16),
		"/v1/users/AbCdEfGhIjKlMnOpQrStUvWxYz/orders", "Basic authentication required", "100%25 done %zz", b64([]byte("nothing to see here, a long plain sentence"))}
	for _, text := range clean {
		var tl tally
		tl.scan(&collector.StoredRecord{UserAgent: text})
		if tl.scanHits != 0 {
			t.Errorf("%q counted as a credential", text)
		}
		if s := scanFiles([]packFile{{name: "f.csv", data: []byte(text)}}); len(s.hits) != 0 {
			t.Errorf("%q counted as a credential in a file: %v", text, s.hits)
		}
	}
}

func pctAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[s[i]>>4])+string("0123456789abcdef"[s[i]&15])))
	}
	return b.String()
}
