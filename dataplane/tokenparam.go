// Token parameters in a query or body (RFC 6750's access_token and the names frameworks read a
// credential from), which step 3 refuses.

package dataplane

import (
	"bytes"
	"strings"
)

// accessToken is the parameter in which RFC 6750 (sections 2.2 and 2.3)
// lets a client send its bearer token in the query or a form body.
const accessToken = "access_token"

// tokenParams are the parameters frameworks read a token from by
// default: access_token (RFC 6750; passport-http-bearer, Spring Security's
// bearer token resolver and ASP.NET's JwtBearer events when told to),
// bearer_token (Doorkeeper's access_token_methods read it after the
// Authorization header and access_token) and api_token (Laravel's token
// guard reads it from the query, then the input, before the bearer
// header). Each is a word, '_', a word, so PHP's spellings of the '_'
// apply at tokenUnder.
var tokenParams = [...]string{accessToken, "bearer_token", "api_token"}

// minTokenParam is the length of the shortest of tokenParams.
const minTokenParam = len("api_token")

// tokenName reports whether a parameter name, decoded as overrideName and
// overrideRackName decode it, is one of tokenParams in any case (PHP
// reading '.', ' ' or '[' as its '_'), alone or followed by '[' or NUL,
// or its key to Rack's nested parser ("[access_token]"). The sidecar
// takes a credential only from its headers and verifies that one; a token
// in the query or a form body went on unverified to a service that reads
// it there, with none of the sidecar's scopes, limits or revocations
// applied to whom it names, and into the access logs that record query
// strings.
func tokenName(name []byte) bool {
	var d [len(accessToken) + 1]byte
	n := decodeHead(d[:], name)
	for _, want := range tokenParams {
		if tokenNameIs(d[:n], want) || rackKey(name, want) {
			return true
		}
	}
	return false
}

// queryTokenParams are parameters services read a credential from in
// the query: "token", which hapi-auth-jwt2 (hapi's JWT plugin) reads by
// default before the Authorization header (its urlKey), and Gitea's API
// beside access_token; and "api_key" and "apikey", where OpenAPI's
// apiKey-in-query schemes, FastAPI's APIKeyQuery and many public APIs
// take a key. They are refused in the query only, where those read them:
// in a body the names are common for what is no credential of the caller
// (a push or captcha token in JSON, a reset token in a form, a third
// party's API key an integration stores), and none reads them there.
var queryTokenParams = [...]string{"token", "apikey", "api_key"}

// queryToken reports whether the query q has a parameter whose name,
// decoded as tokenName decodes names, is one of queryTokenParams in any
// case ("api_key" with PHP's spellings of '_', as tokenNameIs reads
// them), alone or followed by '[' or NUL, or its key to Rack's nested
// parser ("[api_key]", read96). Such a credential went on
// unverified to a service that authenticates on it, beside a key the
// sidecar admitted or on a public route without any, and into the access
// logs that record query strings (TestTokenQueryParamRefused).
func queryToken(q []byte) bool {
	start := 0
	for i := 0; i <= len(q); i++ {
		if i < len(q) && q[i] != '&' && q[i] != ';' {
			continue
		}
		f := q[start:i]
		start = i + 1
		if eq := bytes.IndexByte(f, '='); eq >= 0 {
			f = f[:eq]
		}
		if len(f) < len("token") {
			continue
		}
		var d [len("api_key") + 1]byte
		n := decodeHead(d[:], f)
		for _, want := range queryTokenParams {
			if rackKey(f, want) { // "[api_key]", as tokenName reads "[access_token]"
				return true
			}
			if strings.IndexByte(want, '_') >= 0 {
				if tokenNameIs(d[:n], want) {
					return true
				}
				continue
			}
			if n >= len(want) && foldEqual(d[:len(want)], want) &&
				(n == len(want) || d[len(want)] == '[' || d[len(want)] == 0) {
				return true
			}
		}
	}
	return false
}

// tokenNameIs reports whether the decoded head d of a name is want (one
// of tokenParams) as tokenName says.
func tokenNameIs(d []byte, want string) bool {
	u := strings.IndexByte(want, '_')
	if len(d) < len(want) || d[u] != '_' && d[u] != '.' && d[u] != ' ' && d[u] != '[' {
		return false
	}
	return foldEqual(d[:u], want[:u]) && foldEqual(d[u+1:len(want)], want[u+1:]) &&
		(len(d) == len(want) || d[len(want)] == '[' || d[len(want)] == 0)
}

// tokenPart reports whether a multipart part's name parameter value is an
// access token's (tokenName), as read or with its backslash escapes
// undone as Rack undoes them: multer fills req.body from such a part, and
// passport-http-bearer reads req.body.access_token.
func tokenPart(v []byte) bool {
	return tokenName(v) || bytes.IndexByte(v, '\\') >= 0 && tokenName(unescapeHead(v, ""))
}
