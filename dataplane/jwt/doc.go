// Package jwt verifies OAuth 2.0 / OIDC JWT access tokens (RFC 9068) for
// the data plane, following the JWT best current practices of RFC 8725,
// and caches the results so that a token seen before costs a cheap hash,
// a table load and a constant-time compare, without allocating.
//
// # Use
//
//	v, err := jwt.New(jwt.Config{Issuers: issuers})
//	if err != nil { ... }            // errors wrap ErrConfig and name the issuer
//	v.Launch(ctx)                     // first JWKS fetch and background refresh, without waiting
//	v.WaitFirst(wctx)                 // optional: wait (bounded by wctx) for the first fetches
//	defer v.Close()
//	if jwt.LooksLikeJWT(cred) {
//		claims, st := v.Verify(cred, now)
//		if st != jwt.OK { deny(st.String()) }
//		// check claims.JTI against revocations and claims.Client against
//		// suspensions in the current policy snapshot, on every request.
//	}
//
// Verify is Cached, then VerifyUncached on a miss: a caller that budgets
// full verifications (the sidecar bounds the failed ones per source
// address) calls the two itself.
//
// # What is checked
//
// A token is refused unless every check passes, cheapest first:
//
//   - at most Config.MaxTokenBytes (Oversized); exactly three segments of
//     strict, unpadded base64url (no other byte: encoding/base64 would
//     skip CR and LF), a non-empty signature, and header and
//     payload that are single JSON objects in UTF-8 (Malformed; RFC 7519
//     section 7.2: encoding/json would read other bytes as U+FFFD);
//   - no header or claim name twice, compared after JSON unescaping and
//     under Unicode case folding (Duplicate), since parsers that keep the
//     first and the last value would disagree about "exp" or "scope", and
//     one matching names as encoding/json fills a struct reads "Scope"
//     or "ſcope" as "scope"; no name with a control character
//     (Malformed): a C parser reads "client_id\u0000" as "client_id";
//     no header parameter this package reads (alg, kid, typ) and no
//     claim it reads (iss, aud, exp, nbf, iat, jti, sub, scope, scp,
//     nonce, at_hash, c_hash, the tenant and client claims) spelled in
//     another case, alone (Malformed): JOSE and JWT names are case
//     sensitive, so a lone "KID" is no kid here (and a token without kid
//     is verified by the issuer's only key fitting alg), while a reader
//     ignoring case takes it for the kid;
//   - no jku, x5u, jwk or x5c header: a token never names or carries its
//     own key, and nothing in a token is ever fetched; no crit (no
//     extension is understood), b64, zip, enc, or cty "JWT" (or
//     "application/jwt", RFC 7515 §4.1.10, in any case, with parameters
//     or blanks: "JWT; charset=utf-8") (BadHeader); these names are
//     matched in any case ("JKU", "CTY"), as a library reading header
//     names ignoring case would act on them;
//   - alg is one of RS256, PS256, ES256, EdDSA, HS256, spelled exactly,
//     and allowed for the issuer; "none" in any case is always refused
//     (BadAlgorithm);
//   - iss is a configured issuer (BadIssuer); typ is accepted (BadType):
//     one of Issuer.Types, else absent, "JWT" or "at+jwt", and then the
//     token must carry no claim only an OIDC ID token has (nonce, at_hash,
//     c_hash; BadType too), since providers type their ID tokens "JWT"
//     as well and an ID token is no access token (RFC 9068 §4);
//   - aud (string or array) names one of the issuer's Audiences
//     (BadAudience); exp is present (MissingExpiry); exp, nbf, iat are
//     numbers, sub, jti and the tenant and client claims are strings,
//     "scope" is a space-separated string and "scp" an array of strings
//     or a space-separated string; a token with both is refused
//     (BadClaim);
//   - exp, nbf and iat against now with the issuer's ClockSkew (Expired,
//     NotYetValid) and the lifetime against MaxLifetime (TooLong), in
//     whole seconds: a fractional date is read exactly from its digits
//     and rounded to the stricter side (exp down, nbf up, iat up against
//     now and down for the lifetime);
//   - the key: for HS256 only Issuer.HMACSecret, never a JWKS member;
//     otherwise the JWKS keys whose kid equals the header kid (kid is only
//     a map key, never a path or URL), whose type fits alg and whose JWK
//     alg, when present, equals it (UnknownKey, BadAlgorithm,
//     KeysUnavailable); then the signature (BadSignature), tried against
//     each such key in the set's order, at most four, since a provider
//     rotating a key may publish the new one under the old kid.
//
// Because the checks run in this order, a status other than OK and
// BadSignature does not mean the token was authentic.
//
// # Keys
//
// JWKS are parsed strictly: RSA (2048 to 8192 bits), EC P-256 and OKP
// Ed25519 keys with use "sig" or none; other keys, "oct" keys included,
// are skipped, and so are points off their curve, Ed25519 keys of
// small order (under which anyone can forge a signature), and keys
// holding a member twice (under case folding) or one this package reads
// (kty, kid, alg, use, key_ops, crv, n, e, x, y) in another case. A set of more than 100 entries is refused whole (a failed
// fetch, or a config error inline), and an error lists at most three
// reasons for skipped keys, each value cut to 32 bytes. Launch fetches every JWKSURL in the background and
// refreshes it every RefreshInterval (Start is Launch, then a wait for the
// first fetches); a fetch follows redirects only to https URLs. Until an
// issuer's first fetch succeeds its tokens get
// KeysUnavailable at once, never a wait on the request, Pending names it,
// and the fetch is retried from one second, doubling up to
// RefreshInterval. Adopt lets a verifier rebuilt for a policy change keep
// the keys of unchanged JWKS URLs. A verifier never launched fetches a
// JWKS on the first token that needs it instead. A token with an unknown kid, or one
// that no held key of its kid verifies (a provider may publish a new key
// under the old kid), triggers one refetch per issuer per MinRefetch, and
// is then tried against the new set; concurrent requests join the fetch in flight
// and wait at most RefetchWait, others fail fast with UnknownKey, so a
// flood of random kids costs the provider one request per MinRefetch.
// A failed fetch keeps the held keys, which stay usable until MaxStale
// after the last good fetch; then the issuer's tokens get
// KeysUnavailable. A key that disappears from the JWKS is refused from
// the refresh that drops it on, cached tokens included; a set with no
// usable key left drops them all (Withdrawn names such issuers).
//
// # Cache
//
// Verified tokens are cached in ristretto under the xxhash of the token,
// with a private copy of the token that is compared in constant time on
// every hit, so a hash collision can never authenticate. An entry lives
// no longer than the token's exp; exp, nbf and the key state are checked
// again on each hit. Only OK results are cached. Ahead of ristretto, a
// fixed table of 4096 slots indexed by a cheap hash of the token keeps the
// entries last verified or hit, so that a hot token skips ristretto's
// hashing, TTL clock read and admission bookkeeping; its hits get the same
// checks. Both are bounded by bytes too, an entry counted as its token's
// length plus 512, plus its claims' strings and 24 bytes a scope (a
// token of one-byte scopes keeps eight times its payload in string
// headers): ristretto by Config.CacheBytes (8 MiB by default), the
// front by 2 MiB, so that large tokens cannot make a verifier hold more
// than about 10 MiB. The cache is the only
// place a token is kept; the package never logs it. Claims.Fingerprint is
// a truncated SHA-256 of the token, safe for audit records; an ES256 token
// is hashed in its low-S spelling, since (r, s) and (r, n-s) both verify
// and anyone holding the token could otherwise audit it under a second
// fingerprint.
//
// # Concurrency and lifetimes
//
// A Verifier is safe for concurrent use. Verify does not retain token
// beyond a copy in the cache. The returned *Claims is immutable and
// shared between all requests presenting the same token: never modify
// it or its Scopes. Claims.Issuer points into the Verifier's copy of the
// configuration and is equally read-only.
package jwt
