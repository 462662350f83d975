package policy

import (
	"hash/maphash"
	"net/netip"
	"time"
)

// ScopeSet is a set of scopes as a bitmask: bit i is the i-th scope of the
// policy. Authorization is one AND.
type ScopeSet uint64

// Has reports whether s holds every scope of want.
func (s ScopeSet) Has(want ScopeSet) bool { return want&^s == 0 }

// AuthMethods is a set of authentication methods a class accepts.
type AuthMethods uint8

// Authentication methods.
const (
	MethodAPIKey AuthMethods = 1 << iota
	MethodJWT
	MethodMTLS // a client certificate mapped to a client (ClientSpec.MTLSIdentities)
)

// Snapshot is a compiled, immutable policy: everything the request path needs,
// pre-indexed. Share it freely between goroutines; never modify it. A new
// policy is a new Snapshot swapped in through a Store.
type Snapshot struct {
	Revision int64     // etcd revision, or the reload count in file mode
	Digest   [32]byte  // SHA-256 of the compiled inputs, for evidence
	Compiled time.Time // when Compile ran
	Doc      *Document // the source document (key records from etcd are not in it)

	Tenants        map[string]*Tenant
	Clients        map[string]*Client
	TenantList     []*Tenant // in document order: TenantList[t.Index] == t
	ClientList     []*Client // in document order: ClientList[c.Index] == c
	Classes        []*Class
	Routes         []*Route
	Scopes         []Scope
	Issuers        []IssuerSpec
	TrustedProxies []netip.Prefix
	UpstreamHost   string   // Host sent upstream; empty: the client's
	TenantHeaders  []string // tenant_headers, in lower case: held to the caller's tenant beside BuiltinTenantHeaders
	RefuseHeaders  []string // refuse_headers, in lower case: a request carrying one is refused
	RefuseCookies  []string // refuse_cookies, in lower case: a request carrying one is refused; Doc.RefuseCookies as written, in the same order
	TenantParams   []string // tenant_params, in lower case: on a route binding {tenant}, a request carrying one is refused
	TenantCookies  []string // tenant_cookies, in lower case: on a route binding {tenant}, a request carrying one is refused
	HeaderLists    bool     // one of TenantHeaders, RefuseHeaders and RefuseCookies lists a name: the data plane reads the lines for them
	AuditStrict    bool
	Collector      string
	StaleAfter     time.Duration // 0: no bound
	StaleDeny      bool          // past StaleAfter, deny credentialed requests
	PublicInFlight int           // public_routes.max_in_flight; 0: the data plane's default
	// GlobalMaxSidecars is global_limits.max_sidecars (its default
	// DefaultGlobalMaxSidecars if left out): the most sidecars a global
	// limit is shared among (etcdsync.ShareConfig.MaxMembers).
	GlobalMaxSidecars int
	SkippedKeys       []string // live key records left out, with why

	MaxKeyAge       time.Duration // lifecycle.max_key_age; 0: no bound
	RotationWarning time.Duration // lifecycle.rotation_warning; 0: none

	keys        map[string]*Key
	mtls        map[string]*Client // by certificate identity (ClientSpec.MTLSIdentities)
	revokedJTIs map[string]struct{}
	scopeIndex  map[string]ScopeSet
	roots       [numMethods]*node

	// What Amend needs: the live revocations and suspensions compiled in,
	// the digest's hash state after the document, the sums of the live
	// key records (keySums), the live records skipped by id, and whether
	// one id came twice in live.Keys (not from etcd, whose ids are
	// unique; such a snapshot is not amended).
	liveRevoked   map[string]bool
	liveSuspended map[string]struct{}
	digestBase    []byte
	keySums       *keySet
	skipped       map[string]string
	liveTwice     bool
}

// Tenant is a compiled tenant.
type Tenant struct {
	ID       string
	Index    int // position in the document, for per-snapshot tables
	Limit    Rate
	LimitKey uint64   // limiter key of the tenant bucket
	ClassKey []uint64 // limiter key of the tenant+class bucket, by Class.Index
}

// Scope is a compiled scope.
type Scope struct {
	Name        string
	Description string
	Privileged  bool
	Bit         ScopeSet
}

// Class is a compiled endpoint class.
type Class struct {
	Name        string
	Kind        string
	Index       int
	MaxBody     int64
	MaxResponse int64 // response body cap when ResponseCapped (0 too)
	Limit       Rate  // per tenant+class
	MaxInFlight int   // per tenant; 0 means no cap
	Queue       int
	MaxWait     time.Duration
	Privileged  bool
	AllowCIDRs  []netip.Prefix // empty: any source
	AuthMethods AuthMethods
	MaxTokenAge time.Duration // 0: no bound
	Approval    *Approval     // nil: no approval required

	// ResponseCapped is whether max_response_body is set; without it the
	// data plane's default caps responses. A cap of 0 read as none let a
	// push from 1MiB to 0, a tightening to the two-person rules, through
	// as 64 MiB (TestMaxResponseBodyZeroIsACap).
	ResponseCapped bool
}

// Route is a compiled route.
type Route struct {
	Method   string
	Template string
	Class    *Class
	Scopes   ScopeSet
	Public   bool
	Index    int
	Approval *Approval // the route's, else its class's; nil: none required

	// AllowBody: a request of this GET, DELETE or OPTIONS route may carry
	// content, which goes to the upstream on a connection closed after it.
	AllowBody bool

	// TenantSeg is the position, from 1, of the template's {tenant}
	// segment, else 0: the request's segment there (of its normalised
	// path) must be its credential's tenant id, byte for byte, else 403
	// tenant_mismatch (the data plane's authorize). A route without one
	// pays one compare of this field.
	TenantSeg int
}

// Client is a compiled client (integration).
type Client struct {
	ID        string
	Index     int // position in the document, for per-snapshot tables
	Owner     string
	Tenant    *Tenant
	Scopes    ScopeSet
	ScopeList string // space-separated names, for the X-Portcullis-Scopes header
	// ScopesLine is the X-Portcullis-Scopes header line of ScopeList and
	// IdentityLines the X-Portcullis-Tenant and X-Portcullis-Client lines,
	// each CRLF-terminated, rendered by Compile so that the data plane
	// copies them whole (ScopeList is a part of ScopesLine). Empty in a
	// Client not made by Compile: the data plane renders the lines then.
	ScopesLine    string
	IdentityLines string
	Limit         Rate   // per credential
	LimitKey      uint64 // limiter key of the client bucket, shared by all its credentials
	Global        bool   // limit.scope global: the limit holds across the deployment (issue 17)
	Suspended     bool
}

// Key is a compiled API key record.
type Key struct {
	ID        string
	Client    *Client
	Digest    [32]byte // SHA-256 of the whole key
	NotBefore int64    // unix nanoseconds; 0: no bound
	NotAfter  int64    // unix nanoseconds; 0: no bound
	Revoked   bool
	LimitKey  uint64 // limiter key of a per-key bucket; the data plane limits per client (Client.LimitKey)
	Born      int64  // unix nanoseconds of created_at, else not_before; 0: unknown
	AgeLimit  int64  // unix nanoseconds at which it reaches lifecycle.max_key_age; 0: no bound

	revokedBySpec bool // revoked by its own record, whatever the revocations (Amend)
	live          bool // from a live record (Live.Keys), not the document
}

// AgedAt reports whether k is past the policy's max_key_age at now (unix
// nanoseconds): one comparison, for the request path.
func (k *Key) AgedAt(now int64) bool { return k.AgeLimit != 0 && now >= k.AgeLimit }

// ValidAt reports whether k is usable at now (unix nanoseconds): inside its
// validity window, not revoked and its client not suspended.
func (k *Key) ValidAt(now int64) bool { return k.InWindow(now) && !k.Client.Suspended }

// InWindow reports whether k is inside its validity window at now (unix
// nanoseconds) and not revoked, whatever its client's suspension.
func (k *Key) InWindow(now int64) bool {
	return !k.Revoked && (k.NotBefore == 0 || now >= k.NotBefore) && (k.NotAfter == 0 || now < k.NotAfter)
}

// Key returns the API key record with the given id, or nil.
func (s *Snapshot) Key(id []byte) *Key { return s.keys[string(id)] }

// KeyCount returns the number of API key records.
func (s *Snapshot) KeyCount() int { return len(s.keys) }

// Keys calls yield with each API key record, in no order, until it
// returns false.
func (s *Snapshot) Keys(yield func(*Key) bool) {
	for _, k := range s.keys {
		if !yield(k) {
			return
		}
	}
}

// knownClients returns the set of client ids, as KeySpec.check takes it.
func (s *Snapshot) knownClients() map[string]bool {
	known := make(map[string]bool, len(s.Clients))
	for id := range s.Clients {
		known[id] = true
	}
	return known
}

// Client returns the client with the given id, or nil.
func (s *Snapshot) Client(id string) *Client { return s.Clients[id] }

// MTLSClient returns the client a verified client certificate identity
// (a URI SAN such as a SPIFFE ID, or the subject) maps to, or nil.
func (s *Snapshot) MTLSClient(identity string) *Client { return s.mtls[identity] }

// JTIRevoked reports whether a token id has been revoked.
func (s *Snapshot) JTIRevoked(jti string) bool {
	_, ok := s.revokedJTIs[jti]
	return ok
}

// ScopeBits returns the set of the named scopes; unknown names are ignored.
func (s *Snapshot) ScopeBits(names []string) ScopeSet {
	var set ScopeSet
	for _, n := range names {
		set |= s.scopeIndex[n]
	}
	return set
}

// ScopeNames returns the names of the scopes in set.
func (s *Snapshot) ScopeNames(set ScopeSet) []string {
	var names []string
	for _, sc := range s.Scopes {
		if set&sc.Bit != 0 {
			names = append(names, sc.Name)
		}
	}
	return names
}

// limitSeed makes limiter keys unpredictable to callers, so nobody can aim
// for a bucket collision; keys only need to be stable within a process.
var limitSeed = maphash.MakeSeed()

// limitKey derives the limiter key of a bucket from its kind and names.
func limitKey(kind byte, parts ...string) uint64 {
	var h maphash.Hash
	h.SetSeed(limitSeed)
	h.WriteByte(kind)
	for _, p := range parts {
		h.WriteString(p)
		h.WriteByte(0)
	}
	return h.Sum64()
}

// Skipped reports why the live key record id was left out of s (an
// unknown client, a bad digest, an id the document's keys already use),
// or false if it was not.
func (s *Snapshot) Skipped(id string) (why string, ok bool) {
	why, ok = s.skipped[id]
	return why, ok
}
