package collector

import (
	"strings"

	"github.com/portcullis/portcullis/internal/credential"
)

// Redacted stands in the store for a credential a foreign OTLP client
// sent: nothing secret reaches an audit record, whoever sent it. The
// sidecar records key ids, never a key, a token or a query value; another
// OTLP client's attributes and body are stored as sent, so the well-known
// places a credential travels are cleared before they are
// (TestForeignCredentialsRedacted). Every record's path, user agent and
// request id, which the API's client wrote, are cleared too
// (redactRequestFields, TestCredentialsInRequestFieldsRedacted).
const Redacted = credential.Redacted

// foreignAttr returns the value stored for the foreign attribute key:
// Redacted for a credential's key (an Authorization or Cookie header, a
// password, secret or token), a URL without the values of its query, and
// any value with the credentials credential.Redact finds cleared.
func foreignAttr(key, v string) string {
	if v == "" {
		return v
	}
	if credentialKey(key) {
		return Redacted
	}
	switch strings.ToLower(key) {
	case "url.query", "http.query":
		return Redacted
	case "url.full", "url.original", "http.url", "http.target":
		if i := strings.IndexByte(v, '?'); i >= 0 {
			v = v[:i+1] + Redacted
		}
	}
	return credential.Redact(v)
}

// credentialKey reports whether an attribute key names a credential: its
// last part (after the last '.', as in http.request.header.authorization
// or db.password) holds authorization, cookie, password, passwd,
// passphrase, secret, api_key, apikey, api-key, private_key, privatekey,
// private-key or credential, or ends in token (access_token, x-auth-token;
// not input_tokens, a count). A private key or a passphrase was stored as
// sent (TestForeignPrivateKeysAndPassphrasesRedacted).
func credentialKey(key string) bool {
	last := strings.ToLower(key[strings.LastIndexByte(key, '.')+1:])
	for _, w := range [...]string{"authorization", "cookie", "password", "passwd", "passphrase", "secret", "api_key", "apikey", "api-key", "private_key", "privatekey", "private-key", "credential"} {
		if strings.Contains(last, w) {
			return true
		}
	}
	return strings.HasSuffix(last, "token")
}
