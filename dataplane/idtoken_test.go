package dataplane

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/dataplane/jwt"
	"github.com/portcullis/portcullis/policy"
)

// serveDemoJWKS serves the demo issuer's keys from a real HTTP server on
// loopback and puts in force the example policy reading them from there,
// changed by mutate (nil: as it is).
func serveDemoJWKS(t *testing.T, st *stack, mutate func(*policy.Document)) {
	t.Helper()
	serveJWKSPolicy(t, st, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, demoJWKS)
	}, mutate)
}

// TestIDTokenRefusedAsAccessToken: an issuer without `types` accepted a
// token typed "JWT" or untyped, which is how most providers type their
// OIDC ID tokens too, so the ID token a client got for its user's login
// (its audience an API's too, or the provider's one audience) passed as
// an access token for that client. A token carrying a claim only an ID
// token has (nonce, at_hash, c_hash: OIDC Core 1.0 §2, §3.1.3.6) is now
// refused as bad_type, 401, unless the issuer lists its types.
func TestIDTokenRefusedAsAccessToken(t *testing.T) {
	st := startStack(t, nil)
	serveDemoJWKS(t, st, nil)
	now := time.Now().Unix()
	claims := func(extra string) string {
		return fmt.Sprintf(`{"iss":"https://idp.demo.example","aud":"portcullis-demo","sub":"alice","client_id":"acme-hris",`+
			`"tenant":"acme","scope":"read:users","jti":"id-1","iat":%d,"exp":%d%s}`, now, now+300, extra)
	}
	const header = `{"alg":"EdDSA","typ":"JWT","kid":"demo-1"}`
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(mintDemoRaw(t, header, claims(""))), ""); r.status != 200 {
		t.Fatalf("access token typed JWT: %d %s, want 200", r.status, r.body)
	}
	idTokens := map[string]string{
		"nonce":            mintDemoRaw(t, header, claims(`,"nonce":"n-0S6_WzA2Mj"`)),
		"at_hash":          mintDemoRaw(t, header, claims(`,"at_hash":"77QmUPtjPfzWtF2AnpK9RQ"`)),
		"c_hash":           mintDemoRaw(t, header, claims(`,"c_hash":"LDktKdoQak3Pk0cnXxCltA"`)),
		"nonce, untyped":   mintDemoRaw(t, `{"alg":"EdDSA","kid":"demo-1"}`, claims(`,"nonce":"n"`)),
		"nonce, at+jwt":    mintDemoRaw(t, `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`, claims(`,"nonce":"n"`)),
		"nonce null value": mintDemoRaw(t, header, claims(`,"nonce":null`)),
	}
	verifier := st.srv.prepared.Load().verifier
	for name, tok := range idTokens {
		before, up := verifier.Stats().ByStatus[jwt.BadType], len(st.up.received())
		r := do(t, st.addr, "GET", "/v1/users/9", bearer(tok), "")
		if r.status != 401 {
			t.Errorf("ID token (%s): %d %s, want 401", name, r.status, r.body)
			continue
		}
		if e := r.errorBody(t); e.Error != "unauthenticated" {
			t.Errorf("ID token (%s): error %q, want unauthenticated", name, e.Error)
		}
		if got := verifier.Stats().ByStatus[jwt.BadType]; got != before+1 {
			t.Errorf("ID token (%s): bad_type counted %d times, want once", name, got-before)
		}
		if len(st.up.received()) != up {
			t.Errorf("ID token (%s): the service got the request", name)
		}
		if rec := st.sink.last(t); rec.Decision != audit.Unauthenticated || rec.AuthMethod != audit.AuthJWT {
			t.Errorf("ID token (%s): audited %v by %v, want unauthenticated by jwt", name, rec.Decision, rec.AuthMethod)
		}
	}

	// Every refusal is 401 unauthenticated to the client and in the audit
	// record; /metrics says why.
	if m := scrape(t, st.srv); !strings.Contains(m, "\nportcullis_jwt_refused_total{status=\"bad_type\"} 6\n") {
		t.Errorf("/metrics has no portcullis_jwt_refused_total{status=\"bad_type\"} 6:\n%s", m)
	}

	// An issuer that lists its types has said what its tokens look like:
	// its tokens of those types pass whatever other claims they carry.
	serveDemoJWKS(t, st, func(d *policy.Document) { d.Issuers[0].Types = []string{"JWT"} })
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(idTokens["nonce"]), ""); r.status != 200 {
		t.Errorf("nonce token, issuer with types [JWT]: %d %s, want 200", r.status, r.body)
	}
}
