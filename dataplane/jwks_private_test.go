package dataplane

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// TestJWKSPrivateKeyRefused (attack813): a provider whose JWKS carries a
// key's private half (a whole key pair pasted into the set, "d" of an
// OKP, EC or RSA JWK) publishes it to anyone who can read the jwks_url.
// An outsider read "d" from the set over HTTP, minted a token under that
// key's kid and was let in: the sidecar used the key for verification as
// if only its public half were there. Such a key is now skipped, in any
// case of the member's name; the set's other keys still verify.
func TestJWKSPrivateKeyRefused(t *testing.T) {
	for _, name := range []string{"d", "D"} {
		t.Run(name, func(t *testing.T) {
			st := startStack(t, nil)
			_, priv, err := ed25519.GenerateKey(nil)
			if err != nil {
				t.Fatal(err)
			}
			enc := base64.RawURLEncoding.EncodeToString
			set := fmt.Sprintf(`{"keys":[%s,{"kty":"OKP","crv":"Ed25519","kid":"leaked-1","alg":"EdDSA","use":"sig","x":%q,%q:%q}]}`,
				demoJWKS[len(`{"keys":[`):len(demoJWKS)-len(`]}`)], enc(priv.Public().(ed25519.PublicKey)), name, enc(priv.Seed()))
			serveJWKSWith(t, st, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, set)
			})

			// What an outsider reads from the published set.
			var doc struct{ Keys []map[string]string }
			if err := json.Unmarshal([]byte(set), &doc); err != nil {
				t.Fatal(err)
			}
			seed, err := base64.RawURLEncoding.DecodeString(doc.Keys[1][name])
			if err != nil {
				t.Fatal(err)
			}
			claims, err := json.Marshal(demoClaims("acme-hris", "acme", "read:users"))
			if err != nil {
				t.Fatal(err)
			}
			signing := enc([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"leaked-1"}`)) + "." + enc(claims)
			forged := signing + "." + enc(ed25519.Sign(ed25519.NewKeyFromSeed(seed), []byte(signing)))

			if r := do(t, st.addr, "GET", "/v1/users/9", bearer(forged), ""); r.status != 401 || r.errorBody(t).Error != "unauthenticated" {
				t.Errorf("token signed with the key the JWKS published whole (%q): %d %s, want 401 unauthenticated", name, r.status, r.body)
			}
			if r := do(t, st.addr, "GET", "/v1/users/9", bearer(mint(t, demoClaims("acme-hris", "acme", "read:users"))), ""); r.status != 200 {
				t.Errorf("token of the set's other key: %d %s, want 200", r.status, r.body)
			}
		})
	}
}
