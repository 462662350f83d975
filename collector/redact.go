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

// credentialKey reports whether an attribute key names a credential: it
// holds authorization, cookie, password, passwd, passphrase, secret,
// api_key, apikey, api-key, private_key, privatekey, private-key or
// credential, or a part "key" after one ending in api or private (api.key,
// "API Key"), or one of its parts (between '.', '[', '/' and other marks
// that are not a name's letters, digits, '_' or '-') ends in token
// (access_token, x-auth-token; not input_tokens, a count). Any part, not
// only the last: a key is the path to its value, as a map's members are,
// and a map under a credential's name is cleared whole, so
// "password.value", "secret.0" and "http.request.header.authorization.value"
// name credentials as {"password": {"value": ...}} does; only the part
// after the last '.' was read, and they were stored as sent
// (TestForeignCredentialsUnderDottedKeysRedacted). The cost is the value
// of a harmless key under such a name ("password.changed_at",
// "gen_ai.token.type"), cleared as its map would be. A private key or a
// passphrase was stored as sent (TestForeignPrivateKeysAndPassphrasesRedacted).
func credentialKey(key string) bool {
	k := strings.ToLower(key)
	for _, w := range [...]string{"authorization", "cookie", "password", "passwd", "passphrase", "secret", "api_key", "apikey", "api-key", "private_key", "privatekey", "private-key", "credential"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	prev := ""
	for part := range strings.FieldsFuncSeq(k, notNamePart) {
		if strings.HasSuffix(part, "token") {
			return true
		}
		// "api.key", "API Key", "tls.private.key": api_key and
		// private_key with another mark between (TestForeignKeysSpacedOrDottedRedacted).
		if (part == "key" || part == "keys") && (strings.HasSuffix(prev, "api") || strings.HasSuffix(prev, "private")) {
			return true
		}
		prev = part
	}
	return false
}

// notNamePart reports whether c separates the parts of a key.
func notNamePart(c rune) bool {
	return !(c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || c >= 0x80)
}

// pairNameKey and pairValueKey report whether a map member's key is the
// name, or the value, of a pair as HTTP libraries and log shippers list
// headers: [{"name": "Authorization", "value": "..."}], or "key",
// "header" or "field" and "value", "val", or "values" for a header of
// several ({"header": "Cookie", "val": "..."} was stored as sent:
// TestForeignArrayPairsRedacted).
func pairNameKey(k []byte) bool {
	for _, w := range [...]string{"name", "key", "header", "field"} {
		if strings.EqualFold(string(k), w) {
			return true
		}
	}
	return false
}

func pairValueKey(k []byte) bool {
	for _, w := range [...]string{"value", "val", "values"} {
		if strings.EqualFold(string(k), w) {
			return true
		}
	}
	return false
}

// redactAttributePair clears the value attributes (pairValueKey) of a
// record whose attributes are themselves a pair naming a credential, one
// record a header ({"name": "Cookie", "value": ...}): the pair was read
// inside a nested value only (credentialPair), and such a value was
// stored as sent (TestForeignRecordAttributesPairRedacted).
func (r *StoredRecord) redactAttributePair() {
	named := false
	for k, v := range r.Attributes {
		if pairNameKey([]byte(k)) && credentialKey(v) {
			named = true
			break
		}
	}
	if !named {
		return
	}
	for k, v := range r.Attributes {
		if v != "" && pairValueKey([]byte(k)) {
			r.Attributes[k] = Redacted
		}
	}
}
