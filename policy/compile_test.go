package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// example loads and compiles the example policy with live.
func example(t testing.TB, live Live) *Snapshot {
	t.Helper()
	d, err := LoadFile(examplePath)
	if err != nil {
		t.Fatalf("LoadFile(%q): %v", examplePath, err)
	}
	snap, err := Compile(d, live)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return snap
}

// liveKey is a valid live key record for client acme-hris.
func liveKey(id, notBefore, notAfter string) KeySpec {
	sum := sha256.Sum256([]byte(id))
	return KeySpec{ID: id, Client: "acme-hris", SHA256: hex.EncodeToString(sum[:]), NotBefore: notBefore, NotAfter: notAfter}
}

func TestCompileScopes(t *testing.T) {
	t.Parallel()
	s := example(t, Live{})
	wantBits := map[string]ScopeSet{"read:users": 1, "write:records": 2, "read:reports": 4, "admin:settings": 8}
	for name, want := range wantBits {
		if got := s.ScopeBits([]string{name}); got != want {
			t.Errorf("ScopeBits(%s) = %b, want %b", name, got, want)
		}
	}
	if got := s.ScopeBits([]string{"read:users", "nope", "read:reports"}); got != 5 {
		t.Errorf("ScopeBits(read:users, nope, read:reports) = %b, want 101", got)
	}
	if got, want := s.ScopeNames(0b110), []string{"write:records", "read:reports"}; !slices.Equal(got, want) {
		t.Errorf("ScopeNames(110) = %q, want %q", got, want)
	}
	if !s.Scopes[3].Privileged || s.Scopes[0].Privileged || s.Scopes[3].Description == "" {
		t.Errorf("scope flags wrong: %+v", s.Scopes)
	}
	if !ScopeSet(0b111).Has(0b101) || ScopeSet(0b011).Has(0b101) || !ScopeSet(0).Has(0) {
		t.Error("ScopeSet.Has is wrong")
	}
}

func TestCompileClients(t *testing.T) {
	t.Parallel()
	s := example(t, Live{})
	c := s.Client("acme-hris")
	if c == nil {
		t.Fatal("no client acme-hris")
	}
	if c.Tenant != s.Tenants["acme"] || c.Tenant.ID != "acme" {
		t.Errorf("acme-hris tenant = %+v, want the acme tenant", c.Tenant)
	}
	if got, want := c.Scopes, s.ScopeBits([]string{"read:users", "write:records"}); got != want {
		t.Errorf("acme-hris scopes = %b, want %b", got, want)
	}
	if got, want := c.ScopeList, "read:users write:records"; got != want {
		t.Errorf("acme-hris ScopeList = %q, want %q", got, want)
	}
	if got, want := c.ScopesLine, "X-Portcullis-Scopes: read:users write:records\r\n"; got != want {
		t.Errorf("acme-hris ScopesLine = %q, want %q", got, want)
	}
	if got, want := c.IdentityLines, "X-Portcullis-Tenant: acme\r\nX-Portcullis-Client: acme-hris\r\n"; got != want {
		t.Errorf("acme-hris IdentityLines = %q, want %q", got, want)
	}
	if got, want := c.Limit, (Rate{Events: 5, Per: time.Second, Burst: 10}); got != want {
		t.Errorf("acme-hris limit = %v, want %v", got, want)
	}
	if c.Owner != "hr-integrations@acme.example" {
		t.Errorf("owner = %q", c.Owner)
	}
	for i, cl := range s.ClientList {
		if cl.Index != i || s.Clients[cl.ID] != cl {
			t.Errorf("ClientList[%d] = %s with index %d, not the map's", i, cl.ID, cl.Index)
		}
	}
	for i, tn := range s.TenantList {
		if tn.Index != i || s.Tenants[tn.ID] != tn || len(tn.ClassKey) != len(s.Classes) {
			t.Errorf("TenantList[%d] = %+v inconsistent", i, tn)
		}
	}
	if s.Client("nobody") != nil {
		t.Error("Client(nobody) != nil")
	}
}

func TestCompileClasses(t *testing.T) {
	t.Parallel()
	s := example(t, Live{})
	byName := map[string]*Class{}
	for i, c := range s.Classes {
		if c.Index != i {
			t.Errorf("class %s index %d, want %d", c.Name, c.Index, i)
		}
		byName[c.Name] = c
	}
	std, bulk, priv := byName["standard"], byName["bulk"], byName["privileged"]
	check := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("standard MaxBody", std.MaxBody, int64(1<<20))
	check("standard Limit", std.Limit, Rate{Events: 100, Per: time.Second, Burst: 200})
	check("standard Privileged", std.Privileged, false)
	check("standard AuthMethods", std.AuthMethods, MethodAPIKey|MethodJWT|MethodMTLS)
	check("bulk Privileged", bulk.Privileged, true)
	check("bulk MaxBody", bulk.MaxBody, int64(64<<10))
	check("bulk Limit", bulk.Limit, Rate{Events: 10, Per: time.Minute, Burst: 5})
	check("bulk MaxInFlight", bulk.MaxInFlight, 2)
	check("bulk Queue", bulk.Queue, 2)
	check("bulk MaxWait", bulk.MaxWait, 2*time.Second)
	check("privileged AuthMethods", priv.AuthMethods, MethodAPIKey|MethodJWT|MethodMTLS)
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if !slices.Equal(priv.AllowCIDRs, want) {
		t.Errorf("privileged AllowCIDRs = %v, want %v", priv.AllowCIDRs, want)
	}
	if len(std.AllowCIDRs) != 0 {
		t.Errorf("standard AllowCIDRs = %v, want none", std.AllowCIDRs)
	}
}

func TestCompileAuthMethods(t *testing.T) {
	t.Parallel()
	d := with(16, "    max_body: 64KiB", "    auth_methods: [jwt]", "    max_token_age: 5m")
	doc, err := Load("p.yaml", []byte(d))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	s, err := Compile(doc, Live{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if got := s.Classes[1].AuthMethods; got != MethodJWT {
		t.Errorf("AuthMethods = %b, want jwt only", got)
	}
	if got := s.Classes[1].MaxTokenAge; got != 5*time.Minute {
		t.Errorf("MaxTokenAge = %v, want 5m", got)
	}
}

func TestCompileRoutes(t *testing.T) {
	t.Parallel()
	s := example(t, Live{})
	r := s.Match([]byte("PUT"), []byte("/v1/admin/settings"))
	if r == nil {
		t.Fatal("no route for PUT /v1/admin/settings")
	}
	if r.Class.Name != "privileged" || r.Scopes != s.ScopeBits([]string{"admin:settings"}) || r.Public || s.Routes[r.Index] != r {
		t.Errorf("route = %+v", r)
	}
	if st := s.Match([]byte("GET"), []byte("/v1/status")); st == nil || !st.Public || st.Scopes != 0 {
		t.Errorf("GET /v1/status = %+v, want public with no scopes", st)
	}
}

func TestCompileKeys(t *testing.T) {
	t.Parallel()
	s := example(t, Live{})
	k := s.Key([]byte("acmehris1"))
	if k == nil {
		t.Fatal("no key acmehris1")
	}
	sum := sha256.Sum256([]byte("pk_acmehris1_DemoAcmeHrisSecret000000000000000001"))
	if k.Digest != sum {
		t.Errorf("digest = %x, want %x", k.Digest, sum)
	}
	if want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(); k.NotBefore != want || k.NotAfter != 0 {
		t.Errorf("window = [%d, %d), want [%d, 0)", k.NotBefore, k.NotAfter, want)
	}
	if k.Client != s.Client("acme-hris") {
		t.Errorf("client = %v", k.Client)
	}
	if !s.Key([]byte("revoked1")).Revoked {
		t.Error("revoked1 not revoked")
	}
	if s.Key([]byte("nope")) != nil {
		t.Error("Key(nope) != nil")
	}
}

func TestCompileLive(t *testing.T) {
	t.Parallel()
	live := Live{
		Revision:    42,
		Keys:        []KeySpec{liveKey("etcdkey1", "", "")},
		RevokedKeys: map[string]bool{"acmeadm1": true, "globexbi1": false},
		RevokedJTIs: map[string]bool{"jti-1": true},
		Suspended:   map[string]struct{}{"globex-bi": {}, "gone": {}},
	}
	s := example(t, live)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	tests := []struct {
		id   string
		want bool
	}{
		{"acmehris1", true},
		{"acmeadm1", false},  // revoked live
		{"globexbi1", false}, // client suspended
		{"revoked1", false},  // revoked in the document
		{"etcdkey1", true},   // from etcd
	}
	for _, tt := range tests {
		k := s.Key([]byte(tt.id))
		if k == nil {
			t.Errorf("no key %s", tt.id)
			continue
		}
		if got := k.ValidAt(now); got != tt.want {
			t.Errorf("%s.ValidAt = %v, want %v", tt.id, got, tt.want)
		}
	}
	if !s.JTIRevoked("jti-1") || s.JTIRevoked("jti-2") {
		t.Error("JTIRevoked wrong")
	}
	if s.Revision != 42 || s.KeyCount() != 5 {
		t.Errorf("revision %d, keys %d; want 42, 5", s.Revision, s.KeyCount())
	}
	if got := len(s.Doc.Keys); got != 4 {
		t.Errorf("Doc has %d keys, want the document's 4: key records from etcd belong to the snapshot, not its document", got)
	}
}

func TestCompileInvalidLiveKey(t *testing.T) {
	t.Parallel()
	d, err := LoadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		key  KeySpec
		want string
	}{
		{"unknown client", KeySpec{ID: "etcdkey1", Client: "nobody", SHA256: strings.Repeat("0", 64)}, "unknown client"},
		{"bad digest", KeySpec{ID: "etcdkey1", Client: "acme-hris", SHA256: "xyz"}, "sha256"},
		{"bad id", KeySpec{ID: "Bad", Client: "acme-hris", SHA256: strings.Repeat("0", 64)}, "key id"},
		{"duplicate of document key", liveKey("acmehris1", "", ""), "duplicate key"},
		{"bad time", liveKey("etcdkey1", "tomorrow", ""), "not_before"},
	}
	for _, tt := range bad {
		// A bad live record is skipped and reported, never fatal: it must
		// not hold back the revocations compiled with it.
		snap, err := Compile(d, Live{Keys: []KeySpec{tt.key}, RevokedKeys: map[string]bool{"acmeadm1": true}})
		if err != nil {
			t.Errorf("%s: Compile = %v, want the record skipped", tt.name, err)
			continue
		}
		if len(snap.SkippedKeys) != 1 || !strings.Contains(snap.SkippedKeys[0], tt.want) {
			t.Errorf("%s: SkippedKeys = %q, want one containing %q", tt.name, snap.SkippedKeys, tt.want)
		}
		if k := snap.Key([]byte(tt.key.ID)); k != nil && k.Digest == ([32]byte{}) {
			t.Errorf("%s: the bad record was compiled", tt.name)
		}
		if k := snap.Key([]byte("acmeadm1")); k == nil || !k.Revoked {
			t.Errorf("%s: the revocation compiled with the bad record was lost", tt.name)
		}
	}
}

func TestCompileDigest(t *testing.T) {
	t.Parallel()
	a, b := example(t, Live{}), example(t, Live{Revision: 7})
	if a.Digest != b.Digest {
		t.Error("digest differs between two compiles of the same input")
	}
	revoked := example(t, Live{RevokedKeys: map[string]bool{"acmeadm1": true}})
	if revoked.Digest == a.Digest {
		t.Error("digest unchanged by a revocation")
	}
	same := example(t, Live{RevokedKeys: map[string]bool{"acmeadm1": true}})
	if revoked.Digest != same.Digest {
		t.Error("digest with a revocation is not stable")
	}
	suspended := example(t, Live{Suspended: map[string]struct{}{"acme-hris": {}}})
	jti := example(t, Live{RevokedJTIs: map[string]bool{"j": true}})
	key := example(t, Live{Keys: []KeySpec{liveKey("etcdkey1", "", "")}})
	two := example(t, Live{Keys: []KeySpec{liveKey("etcdkey1", "", ""), liveKey("etcdkey2", "", "")}})
	swapped := example(t, Live{Keys: []KeySpec{liveKey("etcdkey2", "", ""), liveKey("etcdkey1", "", "")}})
	if two.Digest != swapped.Digest {
		t.Error("digest depends on the order of the live key records")
	}
	later := liveKey("etcdkey1", "", "")
	later.NotAfter = "2027-01-01T00:00:00Z"
	edited := example(t, Live{Keys: []KeySpec{later}})
	for name, s := range map[string]*Snapshot{"second key record": two, "field of the key record": edited} {
		if s.Digest == key.Digest {
			t.Errorf("digest unchanged by a %s", name)
		}
	}
	for name, s := range map[string]*Snapshot{"suspension": suspended, "jti": jti, "key": key} {
		if s.Digest == a.Digest {
			t.Errorf("digest unchanged by a %s", name)
		}
	}
}

func TestKeyValidAtRotation(t *testing.T) {
	t.Parallel()
	// Rotation: the old key ends at 12:00, the new one starts at 11:00, so
	// both are valid for the hour between.
	s := example(t, Live{Keys: []KeySpec{
		liveKey("oldkey01", "", "2026-05-01T12:00:00Z"),
		liveKey("newkey01", "2026-05-01T11:00:00Z", ""),
	}})
	at := func(hhmm string) int64 {
		t.Helper()
		ts, err := time.Parse(time.RFC3339, "2026-05-01T"+hhmm+":00Z")
		if err != nil {
			t.Fatal(err)
		}
		return ts.UnixNano()
	}
	old, nu := s.Key([]byte("oldkey01")), s.Key([]byte("newkey01"))
	tests := []struct {
		at       string
		old, new bool
	}{
		{"10:59", true, false},
		{"11:00", true, true}, // not_before is inclusive
		{"11:30", true, true},
		{"12:00", false, true}, // not_after is exclusive
		{"13:00", false, true},
	}
	for _, tt := range tests {
		if got := old.ValidAt(at(tt.at)); got != tt.old {
			t.Errorf("old.ValidAt(%s) = %v, want %v", tt.at, got, tt.old)
		}
		if got := nu.ValidAt(at(tt.at)); got != tt.new {
			t.Errorf("new.ValidAt(%s) = %v, want %v", tt.at, got, tt.new)
		}
	}
}

func TestLimitKeys(t *testing.T) {
	t.Parallel()
	a, b := example(t, Live{}), example(t, Live{})
	acme, globex := a.Tenants["acme"], a.Tenants["globex"]
	keys := map[uint64]string{}
	add := func(name string, k uint64) {
		t.Helper()
		if prev, dup := keys[k]; dup {
			t.Errorf("limiter key of %s equals that of %s", name, prev)
		}
		keys[k] = name
	}
	add("tenant acme", acme.LimitKey)
	add("tenant globex", globex.LimitKey)
	for i, c := range a.Classes {
		add("acme+"+c.Name, acme.ClassKey[i])
		add("globex+"+c.Name, globex.ClassKey[i])
	}
	for _, c := range a.ClientList {
		add("client "+c.ID, c.LimitKey)
	}
	for _, id := range []string{"acmehris1", "acmeadm1", "globexbi1", "revoked1"} {
		add("key "+id, a.Key([]byte(id)).LimitKey)
	}
	if acme.LimitKey != b.Tenants["acme"].LimitKey || acme.ClassKey[2] != b.Tenants["acme"].ClassKey[2] ||
		a.Client("acme-hris").LimitKey != b.Client("acme-hris").LimitKey ||
		a.Key([]byte("acmehris1")).LimitKey != b.Key([]byte("acmehris1")).LimitKey {
		t.Error("limiter keys differ between two compiles in one process")
	}
}

func TestCompileMaxResponseBody(t *testing.T) {
	t.Parallel()
	doc, err := Load("p.yaml", []byte(with(13, "    max_body: 1MiB", "    max_response_body: 8MiB")))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	s, err := Compile(doc, Live{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if got := s.Classes[0].MaxResponse; got != 8<<20 {
		t.Errorf("standard MaxResponse = %d, want 8 MiB", got)
	}
	if got := s.Classes[1].MaxResponse; got != 0 {
		t.Errorf("admin MaxResponse = %d, want 0 (the data plane's default)", got)
	}
	_, err = Load("p.yaml", []byte(with(13, "    max_body: 1MiB", "    max_response_body: lots")))
	want := `p.yaml:14: class "standard": max_response_body: cannot parse size "lots": want a byte count like 65536, 64KiB or 1MiB`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load(bad max_response_body) = %v, want %s", err, want)
	}
}
