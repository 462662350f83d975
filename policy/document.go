package policy

import "encoding/hex"

// Document is the policy document as written in YAML: tenants, scopes,
// endpoint classes, routes, clients, API keys, OAuth issuers and audit
// settings. Load parses one strictly; Compile turns it into a Snapshot.
// Field names are the YAML keys; policy/schema.json is the JSON Schema.
type Document struct {
	Version        int          `yaml:"version" json:"version"`
	Tenants        []TenantSpec `yaml:"tenants" json:"tenants"`
	Scopes         []ScopeSpec  `yaml:"scopes" json:"scopes"`
	Classes        []ClassSpec  `yaml:"classes" json:"classes"`
	Routes         []RouteSpec  `yaml:"routes" json:"routes"`
	Clients        []ClientSpec `yaml:"clients" json:"clients"`
	Keys           []KeySpec    `yaml:"keys,omitempty" json:"keys,omitempty"`
	Issuers        []IssuerSpec `yaml:"issuers,omitempty" json:"issuers,omitempty"`
	TrustedProxies []string     `yaml:"trusted_proxies,omitempty" json:"trusted_proxies,omitempty"`
	UpstreamHost   string       `yaml:"upstream_host,omitempty" json:"upstream_host,omitempty"` // Host sent upstream; empty: the client's

	// TenantHeaders names the headers, beyond the six the data plane
	// always checks (BuiltinTenantHeaders), that the service reads a
	// tenant from: each must name the verified caller's tenant, as those
	// six must (tenantheaders.go).
	TenantHeaders []string `yaml:"tenant_headers,omitempty" json:"tenant_headers,omitempty"`

	// RefuseHeaders names headers carrying a credential the sidecar does
	// not verify (X-Auth-Token, X-Access-Token, ...): a request carrying
	// one is refused, so none reaches the service (tenantheaders.go).
	RefuseHeaders []string `yaml:"refuse_headers,omitempty" json:"refuse_headers,omitempty"`

	// RefuseCookies names cookies carrying a credential the sidecar does
	// not verify (a session cookie: sessionid, PHPSESSID, connect.sid,
	// hapi-auth-jwt2's token, ...): a request carrying one, in any
	// spelling a common server reads as that name, is refused, so none
	// reaches the service (refusecookies.go).
	RefuseCookies []string `yaml:"refuse_cookies,omitempty" json:"refuse_cookies,omitempty"`

	// TenantParams and TenantCookies name the query or form parameters,
	// and the cookies, beyond "tenant", that the service reads a tenant
	// from: on a route that binds {tenant}, a request carrying one, in
	// any spelling a common server reads as that name, is refused, as a
	// tenant parameter is (tenantnames.go).
	TenantParams  []string  `yaml:"tenant_params,omitempty" json:"tenant_params,omitempty"`
	TenantCookies []string  `yaml:"tenant_cookies,omitempty" json:"tenant_cookies,omitempty"`
	Audit         AuditSpec `yaml:"audit,omitempty" json:"audit,omitempty"`
	Staleness     StaleSpec `yaml:"staleness,omitempty" json:"staleness,omitempty"`

	// PublicRoutes bounds the requests to public routes as a whole
	// (PublicSpec); nil: the data plane's default.
	PublicRoutes *PublicSpec `yaml:"public_routes,omitempty" json:"public_routes,omitempty"`

	// GlobalLimits tunes the limits shared across the sidecars in etcd
	// mode (GlobalLimitsSpec); nil: the defaults.
	GlobalLimits *GlobalLimitsSpec `yaml:"global_limits,omitempty" json:"global_limits,omitempty"`

	// Detection and Tickets are the collector's abuse-detection rules
	// and the sinks their alerts go to (detection.go; issue 14).
	Detection []DetectionSpec `yaml:"detection,omitempty" json:"detection,omitempty"`
	Tickets   []TicketSpec    `yaml:"tickets,omitempty" json:"tickets,omitempty"`

	// Lifecycle is the credential lifecycle policy (lifecycle.go; issue 20).
	Lifecycle *LifecycleSpec `yaml:"lifecycle,omitempty" json:"lifecycle,omitempty"`

	source [32]byte // SHA-256 of the bytes Load parsed; zero for a Document built in code
}

// SourceDigest returns the SHA-256, in hex, of the bytes Load parsed the
// document from: the digest of the document as written and pushed, the
// one `portcullis policy history` shows. It is "" for a Document that Load
// did not make.
func (d *Document) SourceDigest() string {
	if d == nil || d.source == [32]byte{} {
		return ""
	}
	return hex.EncodeToString(d.source[:])
}

// LimitSpec is a token bucket: Rate is "N/s", "N/m" (or "N/min") or "N/h";
// Burst defaults to the per-second count rounded up, at least 1. Scope,
// on clients[].limit only, is "local" (the default: each sidecar enforces
// the limit alone) or "global" (in etcd mode the limit holds across the
// deployment's sidecars, like the tenant limits; issue 17).
type LimitSpec struct {
	Rate  string `yaml:"rate" json:"rate"`
	Burst int64  `yaml:"burst,omitempty" json:"burst,omitempty"`
	Scope string `yaml:"scope,omitempty" json:"scope,omitempty"`
}

// TenantSpec is one customer of the service.
type TenantSpec struct {
	ID    string     `yaml:"id" json:"id"`
	Name  string     `yaml:"name,omitempty" json:"name,omitempty"`
	Limit *LimitSpec `yaml:"limit,omitempty" json:"limit,omitempty"`
}

// ScopeSpec is one permission a route can require.
type ScopeSpec struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description"`
	Privileged  bool   `yaml:"privileged,omitempty" json:"privileged,omitempty"`
}

// ConcurrencySpec caps in-flight requests per tenant for a class, with an
// optional bounded first-come first-served queue.
type ConcurrencySpec struct {
	Max     int    `yaml:"max" json:"max"`
	Queue   int    `yaml:"queue,omitempty" json:"queue,omitempty"`
	MaxWait string `yaml:"max_wait,omitempty" json:"max_wait,omitempty"`
}

// ClassSpec is an endpoint class: body limit, per tenant+class rate limit,
// concurrency cap and, for privileged classes, stronger requirements.
type ClassSpec struct {
	Name        string           `yaml:"name" json:"name"`
	Kind        string           `yaml:"kind" json:"kind"` // auth, standard, bulk, privileged
	Description string           `yaml:"description,omitempty" json:"description,omitempty"`
	MaxBody     string           `yaml:"max_body" json:"max_body"`
	Limit       *LimitSpec       `yaml:"limit,omitempty" json:"limit,omitempty"`
	Concurrency *ConcurrencySpec `yaml:"concurrency,omitempty" json:"concurrency,omitempty"`
	AllowCIDRs  []string         `yaml:"allow_cidrs,omitempty" json:"allow_cidrs,omitempty"`
	AuthMethods []string         `yaml:"auth_methods,omitempty" json:"auth_methods,omitempty"`
	MaxTokenAge string           `yaml:"max_token_age,omitempty" json:"max_token_age,omitempty"`

	// MaxResponseBody caps a response body from the upstream; past it the
	// client gets 502 (default 64MiB, the data plane's hard cap).
	MaxResponseBody string `yaml:"max_response_body,omitempty" json:"max_response_body,omitempty"`

	// Approval makes every request to the class carry a granted approval
	// (approval.go); a route's own approval overrides it.
	Approval *ApprovalSpec `yaml:"approval,omitempty" json:"approval,omitempty"`
}

// RouteSpec maps a method and a path template to a class and the scopes it
// requires. Templates are literal segments and {name} parameters, each
// matching exactly one non-empty segment.
type RouteSpec struct {
	Method string   `yaml:"method" json:"method"`
	Path   string   `yaml:"path" json:"path"`
	Class  string   `yaml:"class" json:"class"`
	Scopes []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	Public bool     `yaml:"public,omitempty" json:"public,omitempty"`

	// AllowBody lets a GET, DELETE or OPTIONS route take content (a search
	// endpoint that reads a query from a GET's body). Without it such a
	// request with content is refused: an upstream that never reads the
	// body would take it for a next request. With it, the upstream
	// connection is closed after the exchange.
	AllowBody bool `yaml:"allow_body,omitempty" json:"allow_body,omitempty"`

	// Approval overrides the class's approval for this route (approval.go).
	Approval *ApprovalSpec `yaml:"approval,omitempty" json:"approval,omitempty"`
}

// ClientSpec is an integration acting for one tenant.
type ClientSpec struct {
	ID     string     `yaml:"id" json:"id"`
	Tenant string     `yaml:"tenant" json:"tenant"`
	Owner  string     `yaml:"owner,omitempty" json:"owner,omitempty"`
	Scopes []string   `yaml:"scopes" json:"scopes"`
	Limit  *LimitSpec `yaml:"limit,omitempty" json:"limit,omitempty"`

	// MTLSIdentities are the client certificate identities that
	// authenticate as this client on a listener with --client-ca (auth
	// method mtls): a URI SAN such as a SPIFFE ID
	// ("spiffe://cluster.local/ns/billing/sa/exporter"), or a subject as
	// "subject:" and its RFC 2253 form ("subject:CN=exporter,O=Acme").
	MTLSIdentities []string `yaml:"mtls_identities,omitempty" json:"mtls_identities,omitempty"`
}

// KeySpec is an API key record. Only the SHA-256 of the whole key
// "pk_<id>_<secret>" is stored. It appears in the policy file in file mode and
// as its own record (keys/<id>) in etcd.
type KeySpec struct {
	ID        string `yaml:"id" json:"id"`
	Client    string `yaml:"client" json:"client"`
	SHA256    string `yaml:"sha256" json:"sha256"`
	NotBefore string `yaml:"not_before,omitempty" json:"not_before,omitempty"` // RFC 3339
	NotAfter  string `yaml:"not_after,omitempty" json:"not_after,omitempty"`   // RFC 3339
	Revoked   bool   `yaml:"revoked,omitempty" json:"revoked,omitempty"`
	CreatedBy string `yaml:"created_by,omitempty" json:"created_by,omitempty"`
	Ticket    string `yaml:"ticket,omitempty" json:"ticket,omitempty"`
	CreatedAt string `yaml:"created_at,omitempty" json:"created_at,omitempty"` // RFC 3339; the start of its age (lifecycle.max_key_age)
}

// IssuerSpec is a trusted OAuth 2.0 / OIDC token issuer. Tenants lists the
// tenants whose clients its tokens may speak for; a token mapped to a
// client of another tenant is refused. ForwardToken passes its verified
// token on to the upstream; without it every credential header is removed.
type IssuerSpec struct {
	ID          string   `yaml:"id" json:"id"`
	Issuer      string   `yaml:"issuer" json:"issuer"`
	JWKSURL     string   `yaml:"jwks_url,omitempty" json:"jwks_url,omitempty"`
	JWKS        string   `yaml:"jwks,omitempty" json:"jwks,omitempty"`
	Audiences   []string `yaml:"audiences" json:"audiences"`
	Algorithms  []string `yaml:"algorithms" json:"algorithms"`
	HMACSecret  string   `yaml:"hmac_secret,omitempty" json:"hmac_secret,omitempty"` // a reference: env:NAME or file:PATH
	Types       []string `yaml:"types,omitempty" json:"types,omitempty"`
	TenantClaim string   `yaml:"tenant_claim,omitempty" json:"tenant_claim,omitempty"`
	ClientClaim string   `yaml:"client_claim,omitempty" json:"client_claim,omitempty"`
	ClockSkew   string   `yaml:"clock_skew,omitempty" json:"clock_skew,omitempty"`
	MaxLifetime string   `yaml:"max_lifetime,omitempty" json:"max_lifetime,omitempty"`

	Tenants      []string `yaml:"tenants" json:"tenants"`
	ForwardToken bool     `yaml:"forward_token,omitempty" json:"forward_token,omitempty"`
}

// AuditSpec says where audit records go and what happens when they cannot.
type AuditSpec struct {
	Mode      string `yaml:"mode,omitempty" json:"mode,omitempty"` // best_effort (default) or strict
	Collector string `yaml:"collector,omitempty" json:"collector,omitempty"`
}

// PublicSpec bounds the requests to public routes (those without a
// credential) together: at most MaxInFlight of them are in flight at once
// on a sidecar, so that parties without a credential cannot hold every
// upstream connection and starve the tenants. Without it a sidecar allows
// a quarter of its upstream connections (--upstream-max-conns).
type PublicSpec struct {
	MaxInFlight int `yaml:"max_in_flight" json:"max_in_flight"`
}

// GlobalLimitsSpec tunes the global limits (etcd mode). MaxSidecars is
// the most sidecars expected to share a limit at once (the most replicas
// an autoscaler may run): a sidecar's share never falls below what it
// would be among that many, whatever number of members etcd lists, so
// member records put with a stolen sidecar certificate cannot starve a
// tenant (DefaultGlobalMaxSidecars without it).
type GlobalLimitsSpec struct {
	MaxSidecars int `yaml:"max_sidecars" json:"max_sidecars"`
}

// StaleSpec bounds how old the revocation state may be: past MaxAge without
// hearing from etcd, Action deny refuses credentialed requests with 503,
// Action serve keeps serving and counts it.
type StaleSpec struct {
	MaxAge string `yaml:"max_age,omitempty" json:"max_age,omitempty"`
	Action string `yaml:"action,omitempty" json:"action,omitempty"`
}
