package credential

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy"
)

func TestKeyPrefixIsPolicys(t *testing.T) {
	if KeyPrefix != policy.KeyPrefix {
		t.Fatalf("KeyPrefix = %q, policy.KeyPrefix = %q", KeyPrefix, policy.KeyPrefix)
	}
}

// TestRedact: every shape the evidence scan knows is cleared where it
// stands in free text, and text holding none is returned as it is.
func TestRedact(t *testing.T) {
	const secret = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
	const key = "pk_acmehris1_" + secret
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	b64 := base64.StdEncoding.EncodeToString
	for _, c := range []struct{ in, want string }{
		{"req-" + key, "req-pk_acmehris1_" + Redacted},
		{key, "pk_acmehris1_" + Redacted},
		{"/v1/x/" + jwt + "/y", "/v1/x/" + Redacted + "/y"},
		{"Authorization: Bearer " + jwt, "Authorization: Bearer " + Redacted},
		{"authorization: bearer\t" + secret, "authorization: " + Redacted},
		{"Basic " + b64([]byte("ci-bot:"+key)), "Basic " + Redacted},
		{"/v1/keys/" + strings.ReplaceAll(key, "_", "%5F") + " done", Redacted + " done"},
		{"key_" + b64([]byte(key)), Redacted},
		{"a=b&auth=" + b64([]byte("u:"+key)), "a=b&" + Redacted},
		{"dial postgres://app:s3cr3t-pw@db:5432/app failed", "dial postgres://app:" + Redacted + "@db:5432/app failed"},
		{"proxy=http://:" + secret + "@10.0.0.1:3128 and https://bob:a%40b:c@x.example/p", "proxy=http://:" + Redacted + "@10.0.0.1:3128 and https://bob:" + Redacted + "@x.example/p"},
	} {
		got := Redact(c.in)
		if got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
		for _, p := range Patterns {
			if p.RE.MatchString(got) {
				t.Errorf("Redact(%q) = %q still holds a %s", c.in, got, p.Name)
			}
		}
		if HidesEncoded(got) || strings.Contains(got, secret) {
			t.Errorf("Redact(%q) = %q still holds the credential", c.in, got)
		}
	}
	for _, clean := range []string{"", "3f2a9c1e-7b44-4c1d-9a0e-5d2b8f6e1a37", strings.Repeat("ab12", 16),
		"/v1/users/AbCdEfGhIjKlMnOpQrStUvWxYz/orders", "Basic authentication required", "100%25 done %zz",
		b64([]byte("nothing to see here, a long plain sentence")), "alert-20261203T152000Z-0123456789abcdef", "pk_short",
		"https://x.example:8443/a@b", "ssh://git@github.com/o/r", "http://[::1]:80/x", "see https://example.com/login?next=/a:b@c"} {
		if got := Redact(clean); got != clean {
			t.Errorf("Redact(%q) = %q, want it unchanged", clean, got)
		}
	}
}
