package dataplane

import (
	"net/netip"
	"testing"

	"github.com/portcullis/portcullis/policy"
)

// FuzzForwardedSource checks the X-Forwarded-For and Forwarded parser on
// arbitrary header blocks, read from a trusted peer: it never panics, and
// the source it returns is invalid, the peer itself (every hop trusted), or
// an address no trusted proxy holds. From an untrusted peer the headers
// are not read at all. Seeds are in testdata/fuzz/FuzzForwardedSource.
func FuzzForwardedSource(f *testing.F) {
	f.Add("X-Forwarded-For: 10.0.0.5\r\nX-Forwarded-For: 203.0.113.9\r\n", false)
	f.Add("Forwarded: for=\"[2001:db8::1]:80\";proto=https, for=127.0.0.2\r\n", true)
	proxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24")}
	peer := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, raw string, fwd bool) {
		if !scanHeaders([]byte(raw), new(requestHeaders)) {
			return // refused before it is parsed
		}
		src, ok := forwardedSource([]byte(raw), peer, proxies, fwd)
		if !ok {
			return
		}
		if src.IsValid() && src != peer && trusted(proxies, src) {
			t.Fatalf("forwardedSource(%q) = %v, a trusted proxy", raw, src)
		}
		if src.Zone() != "" || src.Is4In6() {
			t.Fatalf("forwardedSource(%q) = %v: zoned or mapped", raw, src)
		}
		untrusted := netip.MustParseAddr("198.51.100.7")
		if got, _ := forwardedSource([]byte(raw), untrusted, proxies, fwd); got != untrusted {
			t.Fatalf("from an untrusted peer: got %v, want the peer", got)
		}
	})
}

func TestTrustedProxyGivesSourceAddress(t *testing.T) {
	st := startStack(t, nil)
	doc := *loadExample(t).Doc
	doc.TrustedProxies = []string{"127.0.0.0/8"}
	snap, err := policy.Compile(&doc, policy.Live{Revision: 3})
	if err != nil {
		t.Fatal(err)
	}
	st.store.Swap(snap)
	r := do(t, st.addr, "POST", "/v1/integrations", map[string]string{"X-API-Key": adminKey, "X-Forwarded-For": "192.0.2.1, 10.1.2.3"}, "")
	if r.status != 200 {
		t.Fatalf("from 10.1.2.3 via a trusted proxy: got %d %s, want 200", r.status, r.body)
	}
	if got := st.sink.last(t).SourceIP.String(); got != "10.1.2.3" {
		t.Errorf("audit source = %s, want 10.1.2.3", got)
	}
	r = do(t, st.addr, "PUT", "/v1/admin/settings", map[string]string{"X-API-Key": adminKey, "X-Forwarded-For": "192.0.2.1"}, "")
	if r.status != 403 {
		t.Fatalf("from 192.0.2.1 via a trusted proxy: got %d, want 403", r.status)
	}
}
