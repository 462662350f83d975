// Package policytest builds large policy documents in code, for the
// scaling benchmarks of the policy compiler, the etcd sync and the data
// plane (issue 18): tenants, clients, API keys and routes in the numbers a
// real deployment has, with the plaintext keys that authenticate against
// them.
//
// Everything is deterministic: the same Size gives the same document and
// keys, so runs compare. The keys are test keys derived from their index;
// never use them outside tests. Document is not for the request path and
// allocates freely.
package policytest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/portcullis/portcullis/policy"
)

// Size is the shape of a generated policy. Zero counts take at least one of
// each, so that every key has a client and every client a tenant.
type Size struct {
	Tenants int
	Clients int // spread round-robin over the tenants
	Keys    int // spread round-robin over the clients
	Routes  int // GET routes, each with a parameter segment
}

// Document returns a policy of size s that validates and compiles, and the
// plaintext API keys of its key records, keys[i] for Document.Keys[i].
// Every client may read every route, and every limit is far above what a
// benchmark sends, so every generated key is allowed on every route
// (RoutePath) while its buckets are still taken on each request.
func Document(s Size) (*policy.Document, []string) {
	s = s.atLeastOne()
	big := &policy.LimitSpec{Rate: "1000000000/s", Burst: 1000000000}
	doc := &policy.Document{
		Version: 1,
		Scopes:  []policy.ScopeSpec{{Name: "read:items", Description: "read items"}, {Name: "write:items", Description: "write items"}},
		Classes: []policy.ClassSpec{{Name: "standard", Kind: "standard", MaxBody: "1MiB", Limit: big}},
	}
	for i := range s.Tenants {
		doc.Tenants = append(doc.Tenants, policy.TenantSpec{ID: TenantID(i), Limit: big})
	}
	for i := range s.Clients {
		doc.Clients = append(doc.Clients, policy.ClientSpec{ID: ClientID(i), Tenant: TenantID(i % s.Tenants), Scopes: []string{"read:items"}, Limit: big})
	}
	for i := range s.Routes {
		doc.Routes = append(doc.Routes, policy.RouteSpec{Method: "GET", Path: routeTemplate(i), Class: "standard", Scopes: []string{"read:items"}})
	}
	keys := make([]string, s.Keys)
	doc.Keys = make([]policy.KeySpec, s.Keys)
	for i := range s.Keys {
		keys[i], doc.Keys[i] = Key(i, ClientID(i%s.Clients))
	}
	return doc, keys
}

// atLeastOne raises zero counts to one.
func (s Size) atLeastOne() Size {
	s.Tenants, s.Clients, s.Keys, s.Routes = max(s.Tenants, 1), max(s.Clients, 1), max(s.Keys, 1), max(s.Routes, 1)
	return s
}

// TenantID is the id of the i-th tenant.
func TenantID(i int) string { return fmt.Sprintf("tenant-%06d", i) }

// ClientID is the id of the i-th client.
func ClientID(i int) string { return fmt.Sprintf("client-%07d", i) }

// KeyID is the id of the i-th key record.
func KeyID(i int) string { return fmt.Sprintf("key%09d", i) }

// Key returns the i-th API key for client and its record.
func Key(i int, client string) (string, policy.KeySpec) {
	key := policy.KeyPrefix + KeyID(i) + "_" + secret(uint64(i))
	sum := sha256.Sum256([]byte(key))
	return key, policy.KeySpec{ID: KeyID(i), Client: client, SHA256: hex.EncodeToString(sum[:]), CreatedBy: "policytest"}
}

// secret is 43 base62 characters drawn from a splitmix64 stream seeded by
// i: distinct for every i, and different in every word, as real secrets are.
func secret(i uint64) string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	out := make([]byte, 43)
	x := i*0x9e3779b97f4a7c15 + 0x2545f4914f6cdd1d
	for j := range out {
		x += 0x9e3779b97f4a7c15
		z := (x ^ x>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		out[j] = base62[(z^z>>31)%62]
	}
	return string(out)
}

// routesPerService is how many routes share the second segment, so that
// the route tree has wide nodes at two levels.
const routesPerService = 20

// routeTemplate is the template of the i-th route:
// /v1/svc<i/20>/res<i%20>/{id}.
func routeTemplate(i int) string {
	return fmt.Sprintf("/v1/svc%d/res%d/{id}", i/routesPerService, i%routesPerService)
}

// RoutePath is a request path that the i-th route matches.
func RoutePath(i int) string {
	return fmt.Sprintf("/v1/svc%d/res%d/42", i/routesPerService, i%routesPerService)
}

// View describes, by name, what the request path reads of s at now (unix
// nanoseconds): each key record of s and of ids (ids no record has read
// "none"), each client, each certificate identity of the
// document's clients, each token id of jtis, and the digest. Two
// snapshots with equal views answer every credential alike; a key or
// identity whose client record is not the snapshot's own is marked, since
// a stale one would carry an old suspension.
func View(s *policy.Snapshot, now int64, ids, jtis []string) map[string]string {
	v := map[string]string{"digest": fmt.Sprintf("%x", s.Digest), "keys": fmt.Sprint(s.KeyCount()), "skipped": fmt.Sprint(len(s.SkippedKeys))}
	all := append([]string(nil), ids...)
	for k := range s.Keys {
		all = append(all, k.ID)
	}
	for _, id := range all {
		k := s.Key([]byte(id))
		if k == nil {
			v["key "+id] = "none"
			continue
		}
		v["key "+id] = fmt.Sprintf("client=%s revoked=%v valid=%v suspended=%v window=%d-%d born=%d age-limit=%d sha256=%x",
			k.Client.ID, k.Revoked, k.ValidAt(now), k.Client.Suspended, k.NotBefore, k.NotAfter, k.Born, k.AgeLimit, k.Digest)
		if k.Client != s.Client(k.Client.ID) {
			v["key "+id] += " (client record not the snapshot's)"
		}
	}
	for i, c := range s.ClientList {
		v["client "+c.ID] = fmt.Sprintf("suspended=%v index=%d", c.Suspended, c.Index)
		if s.Clients[c.ID] != c || c.Index != i {
			v["client "+c.ID] += " (list and map differ)"
		}
		for _, id := range s.Doc.Clients[i].MTLSIdentities {
			m := s.MTLSClient(id)
			if m == nil {
				v["mtls "+id] = "none"
				continue
			}
			v["mtls "+id] = fmt.Sprintf("%s suspended=%v", m.ID, m.Suspended)
			if m != s.Client(m.ID) {
				v["mtls "+id] += " (client record not the snapshot's)"
			}
		}
	}
	for _, jti := range jtis {
		v["jti "+jti] = fmt.Sprint(s.JTIRevoked(jti))
	}
	return v
}
