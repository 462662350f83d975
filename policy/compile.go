package policy

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Live is the control-plane state that lives beside the document in etcd:
// key records, revocations and suspensions. File mode passes the zero Live.
type Live struct {
	Revision    int64
	Keys        []KeySpec           // keys/<id> records, in addition to the document's
	RevokedKeys map[string]bool     // key ids from revocations/<id>
	RevokedJTIs map[string]bool     // token ids from revocations/jti:<id>
	Suspended   map[string]struct{} // client ids from suspensions/<client>
}

// Compile turns a validated document and the live state into a Snapshot.
// Key records from live that do not validate (for example written to etcd
// by hand) are left out and listed in Snapshot.SkippedKeys: they
// authenticate nothing, and they cannot hold back the revocations and
// suspensions compiled with them.
func Compile(doc *Document, live Live) (*Snapshot, error) {
	c := compiler{doc: doc, snap: &Snapshot{
		Revision:    live.Revision,
		Compiled:    time.Now(),
		Doc:         doc,
		Tenants:     map[string]*Tenant{},
		Clients:     map[string]*Client{},
		keys:        map[string]*Key{},
		revokedJTIs: map[string]struct{}{},
		scopeIndex:  map[string]ScopeSet{},
	}}
	steps := []func() error{c.scopes, c.classes, c.tenants, c.clients, c.routes, c.settings}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := c.keys(live); err != nil {
		return nil, err
	}
	c.lifecycle() // lifecycle.go
	return c.snap, c.digest(live)
}

type compiler struct {
	doc  *Document
	snap *Snapshot
}

func (c *compiler) scopes() error {
	if len(c.doc.Scopes) > MaxScopes {
		return fmt.Errorf("%d scopes defined, at most %d allowed", len(c.doc.Scopes), MaxScopes)
	}
	for i, s := range c.doc.Scopes {
		bit := ScopeSet(1) << i
		c.snap.Scopes = append(c.snap.Scopes, Scope{Name: s.Name, Description: s.Description, Privileged: s.Privileged, Bit: bit})
		c.snap.scopeIndex[s.Name] = bit
	}
	return nil
}

// scopeSet resolves names; every name must exist.
func (c *compiler) scopeSet(names []string, owner string) (ScopeSet, error) {
	var set ScopeSet
	for _, n := range names {
		bit, ok := c.snap.scopeIndex[n]
		if !ok {
			return 0, fmt.Errorf("%s: unknown scope %q", owner, n)
		}
		set |= bit
	}
	return set, nil
}

func (c *compiler) classes() error {
	for i, cs := range c.doc.Classes {
		cl, err := compileClass(cs, i)
		if err != nil {
			return err
		}
		c.snap.Classes = append(c.snap.Classes, cl)
	}
	return nil
}

func compileClass(cs ClassSpec, index int) (*Class, error) {
	cl := &Class{Name: cs.Name, Kind: cs.Kind, Index: index, Privileged: privilegedKind(cs.Kind)}
	var err error
	if cl.MaxBody, err = ParseSize(cs.MaxBody); err != nil {
		return nil, fmt.Errorf("class %q: %w", cs.Name, err)
	}
	if cl.ResponseCapped = cs.MaxResponseBody != ""; cl.ResponseCapped {
		if cl.MaxResponse, err = ParseSize(cs.MaxResponseBody); err != nil {
			return nil, fmt.Errorf("class %q: max_response_body: %w", cs.Name, err)
		}
	}
	if cl.Limit, err = optRate(cs.Limit); err != nil {
		return nil, fmt.Errorf("class %q: %w", cs.Name, err)
	}
	if cc := cs.Concurrency; cc != nil {
		cl.MaxInFlight, cl.Queue = cc.Max, cc.Queue
		if cl.MaxWait, err = parseDuration(cc.MaxWait); err != nil {
			return nil, fmt.Errorf("class %q: %w", cs.Name, err)
		}
	}
	for _, s := range cs.AllowCIDRs {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("class %q: %w", cs.Name, err)
		}
		cl.AllowCIDRs = append(cl.AllowCIDRs, p)
	}
	cl.AuthMethods = MethodAPIKey | MethodJWT | MethodMTLS
	if len(cs.AuthMethods) > 0 {
		cl.AuthMethods = 0
		for _, m := range cs.AuthMethods {
			cl.AuthMethods |= authMethodBits[m]
		}
	}
	if cl.MaxTokenAge, err = parseDuration(cs.MaxTokenAge); err != nil {
		return nil, fmt.Errorf("class %q: %w", cs.Name, err)
	}
	if cl.Approval, err = compileApproval(cs.Approval); err != nil {
		return nil, fmt.Errorf("class %q: %w", cs.Name, err)
	}
	return cl, nil
}

// authMethodBits are the auth_methods names of a class.
var authMethodBits = map[string]AuthMethods{"api_key": MethodAPIKey, "jwt": MethodJWT, "mtls": MethodMTLS}

func optRate(l *LimitSpec) (Rate, error) {
	if l == nil {
		return Rate{}, nil
	}
	return ParseRate(*l)
}

func (c *compiler) tenants() error {
	for _, ts := range c.doc.Tenants {
		lim, err := optRate(ts.Limit)
		if err != nil {
			return fmt.Errorf("tenant %q: %w", ts.ID, err)
		}
		t := &Tenant{ID: ts.ID, Index: len(c.snap.TenantList), Limit: lim, LimitKey: limitKey('t', ts.ID)}
		for _, cl := range c.snap.Classes {
			t.ClassKey = append(t.ClassKey, limitKey('c', ts.ID, cl.Name))
		}
		c.snap.Tenants[ts.ID] = t
		c.snap.TenantList = append(c.snap.TenantList, t)
	}
	return nil
}

func (c *compiler) clients() error {
	for _, cs := range c.doc.Clients {
		t := c.snap.Tenants[cs.Tenant]
		if t == nil {
			return fmt.Errorf("client %q: unknown tenant %q", cs.ID, cs.Tenant)
		}
		scopes, err := c.scopeSet(cs.Scopes, "client "+cs.ID)
		if err != nil {
			return err
		}
		lim, err := optRate(cs.Limit)
		if err != nil {
			return fmt.Errorf("client %q: %w", cs.ID, err)
		}
		cl := &Client{
			ID: cs.ID, Index: len(c.snap.ClientList), Owner: cs.Owner, Tenant: t, Scopes: scopes, Limit: lim,
			LimitKey: limitKey('j', cs.ID),
			Global:   cs.Limit != nil && cs.Limit.Scope == "global",
		}
		cl.headerLines(c.snap.ScopeNames(scopes))
		c.snap.Clients[cs.ID] = cl
		c.snap.ClientList = append(c.snap.ClientList, cl)
		if err := c.mtlsIdentities(cs, cl); err != nil {
			return err
		}
	}
	return nil
}

// headerLines renders cl's identity header lines for the data plane
// (Client.ScopesLine, IdentityLines); ScopeList is a part of ScopesLine,
// so the names are held once.
func (cl *Client) headerLines(scopeNames []string) {
	const scopes = "X-Portcullis-Scopes: "
	cl.ScopesLine = scopes + strings.Join(scopeNames, " ") + "\r\n"
	cl.ScopeList = cl.ScopesLine[len(scopes) : len(cl.ScopesLine)-len("\r\n")]
	cl.IdentityLines = "X-Portcullis-Tenant: " + cl.Tenant.ID + "\r\nX-Portcullis-Client: " + cl.ID + "\r\n"
}

// mtlsIdentities maps the certificate identities of cs to its client; an
// identity may name one client only.
func (c *compiler) mtlsIdentities(cs ClientSpec, cl *Client) error {
	for _, id := range cs.MTLSIdentities {
		if prev := c.snap.mtls[id]; prev != nil {
			return fmt.Errorf("client %q: mtls identity %q already names client %q", cs.ID, id, prev.ID)
		}
		if c.snap.mtls == nil {
			c.snap.mtls = map[string]*Client{}
		}
		c.snap.mtls[id] = cl
	}
	return nil
}

func (c *compiler) routes() error {
	classes := map[string]*Class{}
	for _, cl := range c.snap.Classes {
		classes[cl.Name] = cl
	}
	for i, rs := range c.doc.Routes {
		segs, err := splitTemplate(rs.Path)
		mi := methodIndex([]byte(rs.Method))
		if err != nil || mi < 0 || classes[rs.Class] == nil {
			return fmt.Errorf("route %s %s: invalid (run policy validate)", rs.Method, rs.Path)
		}
		scopes, err := c.scopeSet(rs.Scopes, "route "+rs.Method+" "+rs.Path)
		if err != nil {
			return err
		}
		r := &Route{Method: rs.Method, Template: rs.Path, Class: classes[rs.Class], Scopes: scopes, Public: rs.Public, Index: i, AllowBody: rs.AllowBody}
		if r.TenantSeg, err = tenantSegment(rs, segs); err != nil {
			return err
		}
		if r.Approval, err = routeApproval(rs, r.Class); err != nil {
			return err
		}
		if c.snap.roots[mi] == nil {
			c.snap.roots[mi] = &node{}
		}
		c.snap.roots[mi].insert(segs, r)
		c.snap.Routes = append(c.snap.Routes, r)
	}
	return nil
}

func (c *compiler) settings() error {
	for _, s := range c.doc.TrustedProxies {
		p, err := parsePrefix(s)
		if err != nil {
			return fmt.Errorf("trusted proxy: %w", err)
		}
		c.snap.TrustedProxies = append(c.snap.TrustedProxies, p)
	}
	c.snap.Issuers = c.doc.Issuers
	c.snap.UpstreamHost = c.doc.UpstreamHost
	for _, h := range c.doc.TenantHeaders {
		if err := CheckTenantHeader(h); err != nil {
			return fmt.Errorf("tenant_headers: %w", err)
		}
		c.snap.TenantHeaders = append(c.snap.TenantHeaders, strings.ToLower(h))
	}
	for _, h := range c.doc.RefuseHeaders {
		if err := CheckRefusedHeader(h); err != nil {
			return fmt.Errorf("refuse_headers: %w", err)
		}
		c.snap.RefuseHeaders = append(c.snap.RefuseHeaders, strings.ToLower(h))
	}
	for _, n := range c.doc.RefuseCookies {
		if err := CheckRefusedCookie(n); err != nil {
			return fmt.Errorf("refuse_cookies: %w", err)
		}
		c.snap.RefuseCookies = append(c.snap.RefuseCookies, strings.ToLower(n))
	}
	var err error
	if c.snap.TenantParams, err = compileTenantNames("tenant_params", c.doc.TenantParams); err != nil {
		return err
	}
	if c.snap.TenantCookies, err = compileTenantNames("tenant_cookies", c.doc.TenantCookies); err != nil {
		return err
	}
	c.snap.HeaderLists = len(c.snap.TenantHeaders)+len(c.snap.RefuseHeaders)+len(c.snap.RefuseCookies) > 0
	c.snap.AuditStrict = c.doc.Audit.Mode == "strict"
	c.snap.Collector = c.doc.Audit.Collector
	if c.snap.StaleAfter, err = parseDuration(c.doc.Staleness.MaxAge); err != nil {
		return fmt.Errorf("staleness: %w", err)
	}
	c.snap.StaleDeny = c.doc.Staleness.Action != "serve"
	if c.doc.PublicRoutes != nil {
		c.snap.PublicInFlight = c.doc.PublicRoutes.MaxInFlight
	}
	c.snap.GlobalMaxSidecars = DefaultGlobalMaxSidecars
	if c.doc.GlobalLimits != nil {
		c.snap.GlobalMaxSidecars = c.doc.GlobalLimits.MaxSidecars
	}
	return nil
}

func (c *compiler) keys(live Live) error {
	c.snap.liveRevoked, c.snap.liveSuspended = live.RevokedKeys, live.Suspended
	known := c.snap.knownClients()
	for id := range live.Suspended {
		if cl := c.snap.Clients[id]; cl != nil {
			cl.Suspended = true
		}
	}
	for jti, revoked := range live.RevokedJTIs {
		if revoked { // as the digest and Amend count them, and as RevokedKeys
			c.snap.revokedJTIs[jti] = struct{}{}
		}
	}
	for i := range c.doc.Keys { // the document was validated by Load
		c.add(compileKey(&c.doc.Keys[i], c.snap.Clients[c.doc.Keys[i].Client], live.RevokedKeys[c.doc.Keys[i].ID]))
	}
	var skipped []keyNote
	for i := range live.Keys {
		ks := &live.Keys[i]
		if err := c.liveKey(ks, known); err != nil {
			// A bad record written to etcd by hand must not stop the
			// revocations and suspensions that follow it: it is skipped
			// (it authenticates nothing) and reported.
			skipped = append(skipped, keyNote{ks.ID, err.Error()})
			continue
		}
		k := compileKey(ks, c.snap.Clients[ks.Client], live.RevokedKeys[ks.ID])
		k.live = true
		c.add(k)
	}
	var err error
	if c.snap.keySums, c.snap.liveTwice, err = newKeySet(live.Keys); err != nil {
		return err
	}
	slices.SortStableFunc(skipped, func(a, b keyNote) int { return strings.Compare(a.id, b.id) })
	for _, n := range skipped {
		if c.snap.skipped == nil {
			c.snap.skipped = map[string]string{}
		}
		c.snap.skipped[n.id] = n.note
		c.snap.SkippedKeys = append(c.snap.SkippedKeys, n.note)
	}
	return nil
}

// keyNote is why the live key record id was skipped.
type keyNote struct{ id, note string }

// add indexes a key record; ids are unique by now.
func (c *compiler) add(k *Key) {
	c.snap.keys[k.ID] = k
}

// liveKey checks a key record from the control plane.
func (c *compiler) liveKey(ks *KeySpec, known map[string]bool) error {
	if err := ks.check(known); err != nil {
		return err
	}
	if c.snap.keys[ks.ID] != nil {
		return fmt.Errorf("duplicate key %q", ks.ID)
	}
	return nil
}

// compileKey builds a Key from a record that passed check.
func compileKey(ks *KeySpec, client *Client, revoked bool) *Key {
	k := &Key{ID: ks.ID, Client: client, Revoked: ks.Revoked || revoked, LimitKey: limitKey('k', ks.ID), revokedBySpec: ks.Revoked}
	hex.Decode(k.Digest[:], []byte(ks.SHA256))
	if t, _ := parseTime(ks.NotBefore); !t.IsZero() {
		k.NotBefore = t.UnixNano()
	}
	if t, err := parseTime(ks.CreatedAt); err == nil && !t.IsZero() {
		k.NotBefore = max(k.NotBefore, t.Add(-CreatedSkew).UnixNano()) // not used before it was made
	}
	if t, _ := parseTime(ks.NotAfter); !t.IsZero() {
		k.NotAfter = t.UnixNano()
	}
	if t := ks.Born(); !t.IsZero() {
		k.Born = t.UnixNano()
	}
	return k
}

// digest fingerprints what was compiled: document, key records,
// revocations and suspensions, in a canonical order: the SHA-256 of the
// JSON of
//
//	{"Doc":…,"Keys":"<hex>","RevokedKeys":[…],"RevokedJTIs":[…],"Suspended":[…]}
//
// where Keys is the digest of the SHA-256s of the live key records' JSON
// (keySet: in buckets by id, see keysums.go). The hash state after the
// document is kept in the snapshot (digestBase), and so are the records'
// sums (keySums), so that Amend fingerprints new key records, revocations
// and suspensions without encoding the document and every key again.
func (c *compiler) digest(live Live) error {
	doc, err := json.Marshal(c.doc)
	if err != nil {
		return fmt.Errorf("cannot fingerprint policy: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(`{"Doc":`))
	h.Write(doc)
	h.Write([]byte(`,"Keys":`))
	if c.snap.digestBase, err = h.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
		return fmt.Errorf("cannot fingerprint policy: %w", err)
	}
	c.snap.Digest, err = digestLive(c.snap.digestBase, c.snap.keySums, live)
	return err
}

// digestLive finishes the digest begun in base (see digest) with the
// key records' sums and the revocations and suspensions of live.
func digestLive(base []byte, sums *keySet, live Live) ([32]byte, error) {
	var sum [32]byte
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(base); err != nil {
		return sum, fmt.Errorf("cannot fingerprint policy: %w", err)
	}
	suspended := make([]string, 0, len(live.Suspended))
	for id := range live.Suspended {
		suspended = append(suspended, id)
	}
	sort.Strings(suspended)
	rest, err := json.Marshal(struct {
		RevokedKeys []string
		RevokedJTIs []string
		Suspended   []string
	}{sortedTrue(live.RevokedKeys), sortedTrue(live.RevokedJTIs), nilIfEmpty(suspended)})
	if err != nil {
		return sum, fmt.Errorf("cannot fingerprint policy: %w", err)
	}
	keys := sums.digest()
	var quoted [2 + 2*len(keys)]byte
	quoted[0], quoted[len(quoted)-1] = '"', '"'
	hex.Encode(quoted[1:], keys[:])
	h.Write(quoted[:])
	h.Write([]byte{','})
	h.Write(rest[1:]) // the object's fields, after its '{'
	h.Sum(sum[:0])
	return sum, nil
}

// nilIfEmpty keeps the encoding of no suspensions "null", as it was when
// the digest encoded one struct.
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func sortedTrue(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
