package dataplane

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// Finding (req803): a token whose iat was 0 was read as one without iat,
// so the demo issuer's max_lifetime (1h) bounded exp - now, not exp - iat:
// "iat":0 with exp ten minutes ahead passed, a lifetime of 56 years. A
// present claim is read as present: iat 0 (in any spelling of zero) is
// 1970-01-01, so max_lifetime and a class's max_token_age refuse it as
// they refuse any old token; nbf 0 is a bound long past and exp 0 one
// long expired. Each token is signed by the demo issuer, whose keys come
// from a JWKS server on loopback, and sent through the sidecar.
func TestJWTZeroTimeClaimsArePresent(t *testing.T) {
	t.Parallel()
	now := time.Now().Unix()
	claims := func(client, scope, times string) string {
		return fmt.Sprintf(`{"iss":"https://idp.demo.example","aud":"portcullis-demo","sub":"svc","client_id":%q,`+
			`"tenant":"acme","scope":%q,%s}`, client, scope, times)
	}
	const header = `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`
	type tcase struct {
		name          string
		method, path  string
		client, scope string
		times         string
		status        int
		err           string
	}
	run := func(t *testing.T, st *stack, cases []tcase) {
		t.Helper()
		for _, c := range cases {
			before := len(st.up.received())
			r := do(t, st.addr, c.method, c.path, bearer(mintRaw(t, header, claims(c.client, c.scope, c.times))), "")
			if r.status != c.status {
				t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.body, c.status, c.err)
				continue
			}
			if c.status == 200 {
				continue
			}
			if e := r.errorBody(t); e.Error != c.err {
				t.Errorf("%s: error %q, want %q", c.name, e.Error, c.err)
			}
			if n := len(st.up.received()); n != before {
				t.Errorf("%s: answered %d, and the service got the request", c.name, r.status)
			}
		}
	}
	at := func(d int64) int64 { return now + d }
	users := func(name, times string, status int, err string) tcase {
		return tcase{name, "GET", "/v1/users/9", "acme-hris", "read:users", times, status, err}
	}
	admin := func(name, times string, status int, err string) tcase {
		return tcase{name, "PUT", "/v1/admin/settings", "acme-admin", "admin:settings", times, status, err}
	}
	t.Run("max_lifetime", func(t *testing.T) {
		t.Parallel()
		st := startStack(t, nil)
		serveDemoJWKS(t, st, nil) // clock_skew 30s, max_lifetime 1h
		exp := fmt.Sprintf(`"exp":%d`, at(600))
		run(t, st, []tcase{
			users("iat now", fmt.Sprintf(`"iat":%d,%s`, now, exp), 200, ""),
			users("iat 0", `"iat":0,`+exp, 401, "unauthenticated"),
			users("iat 0.0", `"iat":0.0,`+exp, 401, "unauthenticated"),
			users("iat -0", `"iat":-0,`+exp, 401, "unauthenticated"),
			users("iat 0e9", `"iat":0e9,`+exp, 401, "unauthenticated"),
			users("iat 0.5", `"iat":0.5,`+exp, 401, "unauthenticated"),
			users("iat within the skew ahead", fmt.Sprintf(`"iat":%d,%s`, at(20), exp), 200, ""),
			users("iat past the skew ahead", fmt.Sprintf(`"iat":%d,%s`, at(60), exp), 401, "unauthenticated"),
			users("nbf 0", fmt.Sprintf(`"nbf":0,"iat":%d,%s`, now, exp), 200, ""),
			users("exp 0", fmt.Sprintf(`"iat":%d,"exp":0`, now), 401, "unauthenticated"),
			users("exp 0, iat 0", `"iat":0,"exp":0`, 401, "unauthenticated"),
		})
	})
	t.Run("max_token_age", func(t *testing.T) {
		t.Parallel()
		st := startStack(t, nil)
		serveDemoJWKS(t, st, func(doc *policy.Document) {
			doc.Issuers[0].MaxLifetime = "" // no bound on the lifetime: max_token_age alone judges iat
			doc.Classes = append([]policy.ClassSpec(nil), doc.Classes...)
			for i := range doc.Classes {
				if doc.Classes[i].Name == "privileged" {
					doc.Classes[i].MaxTokenAge = "5m"
				}
			}
		})
		exp := fmt.Sprintf(`"exp":%d`, at(600))
		run(t, st, []tcase{
			admin("iat now", fmt.Sprintf(`"iat":%d,%s`, now, exp), 200, ""),
			admin("iat 0", `"iat":0,`+exp, 401, "token_too_old"),
			admin("iat 10m ago", fmt.Sprintf(`"iat":%d,%s`, at(-600), exp), 401, "token_too_old"),
			admin("no iat", exp, 401, "token_too_old"),
			users("iat 0 where no age is bound", `"iat":0,`+exp, 200, ""),
		})
	})
}
