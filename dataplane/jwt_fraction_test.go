package dataplane

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// TestJWTFractionalExpRoundsDown: RFC 7519 dates may have a fraction,
// and the sidecar compares whole seconds, rounding each date to the
// stricter side: exp down, nbf up, iat up for the check that it is not in
// the future. Read as a float64, "exp":N.99999999999999999 was N+1, and
// "nbf" or "iat" N.00000000000000001 was N: at N.5 s, with no clock skew,
// each such token was accepted. Now each is refused 401 and never
// reaches the service; the same token with exp N+1 is served.
func TestJWTFractionalExpRoundsDown(t *testing.T) {
	n := time.Now().Unix()
	at := time.Unix(n, int64(500*time.Millisecond)) // half a second past N
	st := startStack(t, func(c *Config) { c.Clock = func() time.Time { return at } })
	swapDoc(t, st.store, func(d *policy.Document) {
		for i := range d.Issuers {
			d.Issuers[i].ClockSkew = "0s"
		}
	})
	const header = `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`
	token := func(iat, nbf, exp string) string {
		return mintRaw(t, header, `{"iss":"https://idp.demo.example","aud":"portcullis-demo","sub":"svc","client_id":"acme-hris","tenant":"acme","scope":"read:users","jti":"frac-`+exp+nbf+iat+`","iat":`+iat+`,"nbf":`+nbf+`,"exp":`+exp+`}`)
	}
	past, whole := fmt.Sprint(n-60), fmt.Sprint(n)
	tiny := fmt.Sprint(n) + ".00000000000000001"
	cases := []struct {
		name          string
		iat, nbf, exp string
		status        int
	}{
		{"exp N+1", past, past, fmt.Sprint(n + 1), 200},
		{"exp N.99999999999999999", past, past, fmt.Sprint(n) + ".99999999999999999", 401},
		{"exp N.99999999999999999 spelled with an exponent", past, past, fmt.Sprint(n) + "99999999999999999e-17", 401},
		{"nbf N", past, whole, fmt.Sprint(n + 60), 200},
		{"nbf N.00000000000000001", past, tiny, fmt.Sprint(n + 60), 401},
		{"iat N.00000000000000001", tiny, past, fmt.Sprint(n + 60), 401},
	}
	for _, c := range cases {
		before := len(st.up.received())
		r := do(t, st.addr, "GET", "/v1/users/9", map[string]string{"Authorization": "Bearer " + token(c.iat, c.nbf, c.exp), "X-Request-ID": "frac-case"}, "")
		if r.status != c.status {
			t.Errorf("%s at N.5 s: %d %s, want %d", c.name, r.status, r.body, c.status)
			continue
		}
		if c.status == 200 {
			continue
		}
		if rec := st.sink.withRequestID(t, "frac-case"); rec.Decision != audit.Unauthenticated {
			t.Errorf("%s: recorded %v, want unauthenticated", c.name, rec.Decision)
		}
		if len(st.up.received()) != before {
			t.Errorf("%s: the service got the request", c.name)
		}
	}
}
