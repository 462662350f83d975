package dataplane

import (
	"net/netip"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// renderLines is appendLines as it was before the client's and the auth
// method's lines came rendered: every line built from its fields.
func renderLines(x *exchange) string {
	var dst []byte
	if x.peer.IsValid() {
		dst = appendLine(dst, "X-Forwarded-For: ", x.peer.AppendTo(nil))
	}
	dst = appendLine(dst, "X-Request-Id: ", x.reqID)
	if x.client == nil {
		return string(dst)
	}
	dst = appendLine(dst, "X-Portcullis-Tenant: ", ro(x.client.Tenant.ID))
	dst = appendLine(dst, "X-Portcullis-Client: ", ro(x.client.ID))
	dst = appendLine(dst, "X-Portcullis-Auth-Method: ", ro(x.method.String()))
	if x.key != nil {
		dst = appendLine(dst, "X-Portcullis-Key-Id: ", ro(x.key.ID))
	}
	dst = append(dst, "X-Portcullis-Scopes: "...)
	if x.scopes == x.client.Scopes {
		dst = append(dst, x.client.ScopeList...)
	} else {
		dst = x.appendScopes(dst)
	}
	return string(append(dst, "\r\n"...))
}

// The lines appendLines copies whole (the client's from Compile, the auth
// method's, the source's kept with the exchange) are the lines rendering
// each from its fields gives, for every auth method (one past the last
// too), with and without a key, the client's scopes and fewer, a source
// and none, a source that changes on the exchange, and a client whose
// lines Compile did not render.
func TestAppendLinesRenderedSame(t *testing.T) {
	snap := loadExample(t)
	hris := snap.Client("acme-hris")
	if hris == nil || hris.IdentityLines == "" || hris.ScopesLine == "" {
		t.Fatalf("acme-hris has no rendered lines: %+v", hris)
	}
	bare := *hris
	bare.IdentityLines, bare.ScopesLine = "", ""
	var key *policy.Key
	for k := range snap.Keys {
		if k.Client == hris {
			key = k
			break
		}
	}
	if key == nil {
		t.Fatal("no key of acme-hris in the example policy")
	}
	x := &exchange{snap: snap, reqID: []byte("req-1")}
	peers := []netip.Addr{{}, netip.MustParseAddr("10.0.0.7"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("10.0.0.7")}
	checked := 0
	for _, peer := range peers {
		for _, client := range []*policy.Client{nil, hris, &bare} {
			for m := audit.AuthNone; m <= audit.AuthMTLS+1; m++ {
				for _, k := range []*policy.Key{nil, key} {
					for _, scopes := range []policy.ScopeSet{hris.Scopes, hris.Scopes &^ snap.ScopeBits([]string{"read:users"}), 0} {
						x.peer, x.client, x.method, x.key, x.scopes = peer, client, m, k, scopes
						want := renderLines(x)
						if got := string(x.appendLines(nil)); got != want {
							t.Fatalf("peer %v, client %v, method %v, key %v, scopes %b:\n got %q\nwant %q", peer, client != nil, m, k != nil, scopes, got, want)
						}
						checked++
					}
				}
			}
		}
	}
	if checked != len(peers)*3*5*2*3 {
		t.Fatalf("checked %d cases", checked)
	}
}
