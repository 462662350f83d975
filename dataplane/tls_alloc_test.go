//go:build !race

package dataplane

import (
	"math"
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// A request authenticated by the connection's client certificate
// allocates nothing either: the certificate's identities are worked out
// once per connection (conn.identities), and each request maps them to a
// client with map lookups. The connection here carries the identities of
// a verified certificate as a TLS connection would after its handshake;
// the handshake itself is TestTLSClientCertificates's.
func TestMTLSAllocations(t *testing.T) {
	cases := []struct {
		name   string
		ids    []string
		status int
		method audit.AuthMethod
	}{
		{"allowed mtls", []string{"spiffe://cluster.local/ns/acme/sa/admin-console", "subject:CN=admin-console"}, 200, audit.AuthMTLS},
		{"401 unmapped certificate", []string{"spiffe://cluster.local/ns/acme/sa/stranger", "subject:CN=stranger"}, 401, audit.AuthMTLS},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newInmem(t, false)
			cn := m.ctx.Conn().(*conn)
			cn.ids, cn.idsDone, cn.certEnd = c.ids, true, math.MaxInt64
			raw := request("POST", "/v1/exports", "", "Content-Length: 0")
			for range 50 {
				m.serve(t, raw)
			}
			if got := m.serve(t, raw); got != c.status {
				t.Fatalf("status %d, want %d", got, c.status)
			}
			if got := m.sink.last.AuthMethod; got != c.method {
				t.Fatalf("audit auth method %v, want %v", got, c.method)
			}
			if allocs := testing.AllocsPerRun(200, func() { m.serve(t, raw) }); allocs != 0 {
				t.Errorf("%v allocations per request, want 0", allocs)
			}
		})
	}
}
