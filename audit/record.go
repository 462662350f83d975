package audit

import (
	"net/netip"

	"github.com/portcullis/portcullis/internal/credential"
)

// Decision is why the sidecar answered a request the way it did. It is the
// reason enum of the audit record: the data plane keys its pre-rendered denial bodies
// by it and every audit record carries it.
type Decision uint8

// Decisions, in the order the request path reaches them.
const (
	Allowed              Decision = iota // forwarded to the upstream
	BadRequest                           // malformed or ambiguous request (smuggling, bad path)
	HeaderTooLarge                       // request headers above the server limit
	NoRoute                              // no route matches: default deny
	BodyTooLarge                         // declared body above the class limit
	Unauthenticated                      // credential missing, unknown, wrong or expired; a revoked token, or a wrong secret under a revoked key's id
	Suspended                            // the client is suspended
	Forbidden                            // credential lacks a required scope
	NetworkDenied                        // source address outside the class allowlist
	MethodDenied                         // auth method not allowed for the class
	TokenTooOld                          // token older than the class allows
	RateLimited                          // a token bucket denied
	ConcurrencyLimited                   // per-tenant in-flight cap reached and the queue was full or timed out
	PolicyStale                          // policy older than its staleness bound
	AuditUnavailable                     // strict audit mode could not capture the record
	UpstreamError                        // upstream refused or broke the connection
	UpstreamTimeout                      // upstream too slow
	InternalError                        // a handler panicked
	NotReady                             // no policy loaded yet
	ResponseTooLarge                     // upstream response body above the class limit (502)
	ApprovalRequired                     // the route requires a granted approval and the request named none usable (issue 20)
	KeyExpiredByPolicy                   // API key older than the policy's lifecycle.max_key_age (401)
	KeyRevoked                           // API key whose secret matched a revoked record (answered as Unauthenticated)
	PublicLimited                        // public routes' in-flight cap reached: their share of the upstream connections is taken (503)
	CertRevoked                          // client certificate a CRL lists: at the handshake (refused, no request), or a CRL reloaded since its connection's handshake (answered as Unauthenticated)
	UpstreamSaturated                    // every upstream connection stayed busy for the whole wait: the service is saturated, not broken (503)
	CertCRLExpired                       // client certificate refused at the handshake: the CRL of its CA is past its nextUpdate
	TokenFailuresLimited                 // the source address's budget of failed token verifications is spent: a token not verified before is not checked (429)
	TenantMismatch                       // the path's {tenant} segment names a tenant other than the credential's (403)
	ExpectationFailed                    // an Expect other than one "100-continue" (417): answered before any body is read
	numDecisions
)

// NumDecisions is the number of Decision values, for tables indexed by them.
const NumDecisions = int(numDecisions)

var decisionNames = [numDecisions]string{
	Allowed:              "allowed",
	BadRequest:           "bad_request",
	HeaderTooLarge:       "header_too_large",
	NoRoute:              "no_route",
	BodyTooLarge:         "body_too_large",
	Unauthenticated:      "unauthenticated",
	Suspended:            "suspended",
	Forbidden:            "forbidden",
	NetworkDenied:        "network_denied",
	MethodDenied:         "auth_method_denied",
	TokenTooOld:          "token_too_old",
	RateLimited:          "rate_limited",
	ConcurrencyLimited:   "concurrency_limited",
	PolicyStale:          "policy_stale",
	AuditUnavailable:     "audit_unavailable",
	UpstreamError:        "upstream_error",
	UpstreamTimeout:      "upstream_timeout",
	InternalError:        "internal_error",
	NotReady:             "not_ready",
	ResponseTooLarge:     "response_too_large",
	ApprovalRequired:     "approval_required",
	KeyExpiredByPolicy:   "key_expired_by_policy",
	KeyRevoked:           "key_revoked",
	PublicLimited:        "public_limited",
	CertRevoked:          "cert_revoked",
	UpstreamSaturated:    "upstream_saturated",
	CertCRLExpired:       "cert_crl_expired",
	TokenFailuresLimited: "token_failures_limited",
	TenantMismatch:       "tenant_mismatch",
	ExpectationFailed:    "expectation_failed",
}

// String returns the snake_case name used in audit records and error bodies.
func (d Decision) String() string {
	if d >= numDecisions {
		return "unknown"
	}
	return decisionNames[d]
}

// ParseDecision returns the Decision named s.
func ParseDecision(s string) (Decision, bool) {
	for i, n := range decisionNames {
		if n == s {
			return Decision(i), true
		}
	}
	return 0, false
}

// Limit is which limit refused a request: the record of a RateLimited or
// ConcurrencyLimited request names it, so an auditor can tell a tenant
// throttled by its own client's limit from one throttled because the
// tenant-wide limit was hit (noisy-neighbour evidence). Its names are the
// scope label of portcullis_limiter_denials_total.
type Limit uint8

// Limits, in the order the request path takes them.
const (
	NoLimit             Limit = iota // no limit refused the request (every other decision)
	LimitKey                         // the client's own bucket (clients[].limit, shared by its keys and tokens)
	LimitTenant                      // the tenant's bucket (tenants[].limit; in etcd mode this sidecar's share)
	LimitClass                       // the tenant+class bucket (classes[].limit)
	LimitConcurrency                 // the tenant+class in-flight cap (classes[].concurrency): its queue full, or the wait past max_wait
	LimitTenantInFlight              // the tenant's in-flight cap, in every class (--tenant-max-in-flight)
	numLimits
)

var limitNames = [numLimits]string{NoLimit: "", LimitKey: "key", LimitTenant: "tenant", LimitClass: "class", LimitConcurrency: "concurrency", LimitTenantInFlight: "tenant_in_flight"}

// String returns the name used in audit records ("" for NoLimit).
func (l Limit) String() string {
	if l >= numLimits {
		return "unknown"
	}
	return limitNames[l]
}

// Refuses reports whether l is a limit that refuses a request with
// decision d, as the data plane names them (dataplane/limit.go): a token
// bucket (LimitKey, LimitTenant, LimitClass) with RateLimited, an
// in-flight cap (LimitConcurrency, LimitTenantInFlight) with
// ConcurrencyLimited. No other pair is written.
func (l Limit) Refuses(d Decision) bool {
	switch l {
	case LimitKey, LimitTenant, LimitClass:
		return d == RateLimited
	case LimitConcurrency, LimitTenantInFlight:
		return d == ConcurrencyLimited
	}
	return false
}

// ParseLimit returns the Limit named s; "" is NoLimit.
func ParseLimit(s string) (Limit, bool) {
	for i, n := range limitNames {
		if n == s {
			return Limit(i), true
		}
	}
	return 0, false
}

// AuthMethod is how the caller authenticated.
type AuthMethod uint8

// Auth methods.
const (
	AuthNone   AuthMethod = iota // no credential (public route or denied before authentication), or mixed in an aggregated record
	AuthAPIKey                   // scoped API key
	AuthJWT                      // OAuth 2.0 / OIDC access token
	AuthMTLS                     // client certificate, verified against --client-ca and mapped to a client
)

var authMethodNames = [...]string{AuthNone: "none", AuthAPIKey: "api_key", AuthJWT: "jwt", AuthMTLS: "mtls"}

// String returns the name used in audit records and the X-Portcullis-Auth-Method header.
func (m AuthMethod) String() string {
	if int(m) >= len(authMethodNames) {
		return "unknown"
	}
	return authMethodNames[m]
}

// Sizes of the fixed text fields of a Record. Longer values are truncated.
const (
	MaxPath      = 256
	MaxRequestID = 64
	MaxUserAgent = 128
	MaxKeyID     = 32
	MaxApproval  = 40 // an approval id (etcdsync.MaxApprovalID)
	// MaxCertSerial is the longest client certificate serial, in hex: RFC
	// 5280 (4.1.2.2) caps a serial at 20 octets.
	MaxCertSerial = 40
)

// Record is one audit record: who called which endpoint of which tenant, how
// they authenticated and what the sidecar decided. It never holds a key, token,
// secret, cookie, query string or body.
//
// A Record is a fixed-size value: request-derived text is copied into arrays,
// and the string fields point at immutable policy data (or at the immutable
// claims of a verified token), so filling one and copying it into an emitter
// slot never allocates. The zero Record is empty and ready to fill.
type Record struct {
	Time           int64 // unix nanoseconds when the request arrived
	Duration       int64 // nanoseconds until the response was written
	PolicyRevision int64
	BytesIn        int64
	BytesOut       int64
	Status         uint16
	Decision       Decision
	AuthMethod     AuthMethod
	Limit          Limit // which limit refused a RateLimited or ConcurrencyLimited request
	SourceIP       netip.Addr

	Tenant string // policy id, or "" when unauthenticated
	Client string // policy id
	Route  string // route template, or "" when no route matched
	Issuer string // JWT issuer id, "" for API keys

	// TokenFingerprint is a non-reversible fingerprint of a JWT (zero for API keys).
	TokenFingerprint [16]byte

	// CertIssuer is the SHA-256 of the DER subject of the CA that issued
	// a client certificate refused at the TLS handshake (zero otherwise);
	// with the serial (CertSerial) it names the certificate, never
	// holding it.
	CertIssuer [32]byte

	// Count is how many requests the record stands for: 0 (or 1) for one.
	// The emitter sets it when it aggregates denials without a verified
	// credential, or a verified client's limit refusals, while its spool
	// is above half full; the data plane, on a
	// record of handshake refusals left out of the trail (no serial).
	Count uint32

	// ClientCut says the client's connection failed before the whole
	// response left: a client that read too slowly for the write timeout,
	// or reset the connection, mid-body. The decision stays what the
	// sidecar decided (allowed: the data left as far as BytesOut says,
	// and a client must not make its own access read as refused by
	// cutting it), the status the one the client began to get, and
	// BytesOut what was handed to the connection. Before, such a
	// response read as whole (TestSlowReaderCutAudited).
	ClientCut bool

	// ClientRequestID says the request id is the client's X-Request-ID,
	// kept, not one this sidecar made. A client may send an id of
	// another sidecar's shape (services pass them on, and only this
	// sidecar's own prefix is refused), so the id alone did not tell an
	// auditor who made it (TestRequestIDSourceAudited).
	ClientRequestID bool

	method    [8]byte
	methodLen uint8
	keyIDLen  uint8
	keyID     [MaxKeyID]byte
	pathLen   uint16
	path      [MaxPath]byte
	reqIDLen  uint8
	reqID     [MaxRequestID]byte
	uaLen     uint8
	ua        [MaxUserAgent]byte
	aprLen    uint8
	apr       [MaxApproval]byte
	serialLen uint8
	serial    [MaxCertSerial]byte
}

// SetMethod stores the HTTP method (truncated to 8 bytes).
func (r *Record) SetMethod(b []byte) { r.methodLen = uint8(copy(r.method[:], b)) }

// Method returns the stored HTTP method; the slice aliases r.
func (r *Record) Method() []byte { return r.method[:r.methodLen] }

// SetKeyID stores the API key id (never the key).
func (r *Record) SetKeyID(b []byte) { r.keyIDLen = uint8(copy(r.keyID[:], b)) }

// KeyID returns the stored key id; the slice aliases r.
func (r *Record) KeyID() []byte { return r.keyID[:r.keyIDLen] }

// SetPath stores the normalised path without its query.
//
// A path longer than MaxPath is cut at a character boundary and ends with
// PathCut, so that the record says it is not the whole path: before, a
// record showed the first 256 bytes as if they were the path served, and
// two long paths alike in them read as one (TestLongPathMarkedCut). The
// sidecar records only the normal form of a path, which is ASCII, so a
// path served never ends with PathCut.
//
// The secret of an API key and a JWT in it are masked (credential.Mask):
// a client that put its own there had it in the trail as sent
// (TestCredentialInPathOrUserAgentMasked).
//
// A key cut with the path has its secret masked whatever is left of it
// (credential.MaskCut): masked after the cut and only from 16 characters
// on, up to 15 characters of a secret stayed in the trail
// (TestCutKeyInAuditRecordMasked).
func (r *Record) SetPath(b []byte) {
	if len(b) <= MaxPath {
		r.pathLen = uint16(copy(r.path[:], b))
		credential.Mask(r.path[:r.pathLen])
		return
	}
	n := MaxPath - len(PathCut)
	for n > 0 && b[n]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		n--
	}
	copy(r.path[:], b[:n])
	credential.MaskCut(r.path[:n])
	r.pathLen = uint16(n + copy(r.path[n:], PathCut))
}

// PathCut ends a recorded path that was longer than MaxPath: U+2026, the
// horizontal ellipsis.
const PathCut = "\u2026"

// Path returns the stored path; the slice aliases r.
func (r *Record) Path() []byte { return r.path[:r.pathLen] }

// SetRequestID stores the request id.
func (r *Record) SetRequestID(b []byte) { r.reqIDLen = uint8(copy(r.reqID[:], b)) }

// RequestID returns the stored request id; the slice aliases r.
func (r *Record) RequestID() []byte { return r.reqID[:r.reqIDLen] }

// SetUserAgent stores the user agent, truncated to MaxUserAgent bytes,
// the secret of an API key and a JWT in it masked (credential.Mask; a key
// the truncation cut, whatever is left of its secret: credential.MaskCut).
func (r *Record) SetUserAgent(b []byte) {
	r.uaLen = uint8(copy(r.ua[:], b))
	if len(b) > MaxUserAgent {
		credential.MaskCut(r.ua[:r.uaLen])
		return
	}
	credential.Mask(r.ua[:r.uaLen])
}

// UserAgent returns the stored user agent; the slice aliases r.
func (r *Record) UserAgent() []byte { return r.ua[:r.uaLen] }

// SetApprovalID stores the id of the approval the request named (issue
// 20); an id is no secret: it admits nothing without its client's
// credential.
func (r *Record) SetApprovalID(b []byte) { r.aprLen = uint8(copy(r.apr[:], b)) }

// ApprovalID returns the stored approval id; the slice aliases r.
func (r *Record) ApprovalID() []byte { return r.apr[:r.aprLen] }

// SetCertSerial stores the serial of a client certificate refused at the
// TLS handshake, in hex (cut at MaxCertSerial).
func (r *Record) SetCertSerial(b []byte) { r.serialLen = uint8(copy(r.serial[:], b)) }

// CertSerial returns the stored certificate serial; the slice aliases r.
func (r *Record) CertSerial() []byte { return r.serial[:r.serialLen] }

// CopyTo copies r into dst. Of the text arrays (about 500 of the record's
// 600 bytes) it copies only the bytes in use, so handing a record to a
// queue costs what the record holds, not its size.
func (r *Record) CopyTo(dst *Record) {
	dst.Time, dst.Duration, dst.PolicyRevision, dst.BytesIn, dst.BytesOut = r.Time, r.Duration, r.PolicyRevision, r.BytesIn, r.BytesOut
	dst.Status, dst.Decision, dst.AuthMethod, dst.Limit, dst.SourceIP = r.Status, r.Decision, r.AuthMethod, r.Limit, r.SourceIP
	dst.Tenant, dst.Client, dst.Route, dst.Issuer = r.Tenant, r.Client, r.Route, r.Issuer
	dst.TokenFingerprint, dst.Count, dst.CertIssuer, dst.ClientCut = r.TokenFingerprint, r.Count, r.CertIssuer, r.ClientCut
	dst.ClientRequestID = r.ClientRequestID
	dst.SetMethod(r.Method())
	dst.SetKeyID(r.KeyID())
	dst.SetPath(r.Path())
	dst.SetRequestID(r.RequestID())
	dst.SetUserAgent(r.UserAgent())
	dst.SetApprovalID(r.ApprovalID())
	dst.SetCertSerial(r.CertSerial())
}

// Reset clears r for reuse. The text arrays keep their old bytes (about
// 500 of the record's 600) behind lengths set to zero: nothing reads past a
// length, and none of them ever held a secret.
func (r *Record) Reset() {
	r.Time, r.Duration, r.PolicyRevision, r.BytesIn, r.BytesOut = 0, 0, 0, 0, 0
	r.Status, r.Decision, r.AuthMethod, r.Limit, r.SourceIP = 0, Allowed, AuthNone, NoLimit, netip.Addr{}
	r.Tenant, r.Client, r.Route, r.Issuer = "", "", "", ""
	r.TokenFingerprint, r.Count, r.CertIssuer, r.ClientCut, r.ClientRequestID = [16]byte{}, 0, [32]byte{}, false, false
	r.methodLen, r.keyIDLen, r.pathLen, r.reqIDLen, r.uaLen, r.aprLen, r.serialLen = 0, 0, 0, 0, 0, 0, 0
}
