package dataplane

import (
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// A revoked key presented with its own secret is audited key_revoked, the
// proof that this sidecar applied the revocation, while a wrong secret
// under its id stays unauthenticated; the client cannot tell them apart:
// same status, body and WWW-Authenticate. Both for a key revoked in the
// policy document and for one revoked live after it was used (its front
// entry already made).
func TestRevokedKeyAuditedAsKeyRevoked(t *testing.T) {
	t.Parallel()
	st := startStack(t, nil)
	if r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), ""); r.status != 200 {
		t.Fatalf("before revocation: %d %s", r.status, r.body)
	}
	snap, err := policy.Compile(loadExample(t).Doc, policy.Live{Revision: 2, RevokedKeys: map[string]bool{"acmehris1": true}})
	if err != nil {
		t.Fatal(err)
	}
	st.store.Swap(snap)
	cases := []struct {
		name, key, id string
		want          audit.Decision
	}{
		{"revoked in the document", revokedKey, "revoked1", audit.KeyRevoked},
		{"revoked in the document, wrong secret", "pk_revoked1_WrongSecretWrongSecretWrongSecret00001", "revoked1", audit.Unauthenticated},
		{"revoked live", hrisKey, "acmehris1", audit.KeyRevoked},
		{"revoked live, again", hrisKey, "acmehris1", audit.KeyRevoked},
		{"revoked live, wrong secret", "pk_acmehris1_WrongSecretWrongSecretWrongSecret0001", "acmehris1", audit.Unauthenticated},
	}
	var first reply
	for i, c := range cases {
		h := key(c.key)
		h["X-Request-ID"] = "same-id"
		r := do(t, st.addr, "GET", "/v1/users", h, "")
		if r.status != 401 || r.errorBody(t).Error != "unauthenticated" || r.header.Get("WWW-Authenticate") != `Bearer realm="portcullis"` {
			t.Errorf("%s: %d %s %q, want the unauthenticated 401", c.name, r.status, r.body, r.header.Get("WWW-Authenticate"))
		}
		if i == 0 {
			first = r
		} else if r.body != first.body {
			t.Errorf("%s: body %q differs from %q", c.name, r.body, first.body)
		}
		rec := st.sink.last(t)
		if rec.Decision != c.want || rec.Status != 401 || string(rec.KeyID()) != c.id || rec.Client != "" {
			t.Errorf("%s: audit record %s %d key %q client %q, want %s 401 key %q no client", c.name, rec.Decision, rec.Status, rec.KeyID(), rec.Client, c.want, c.id)
		}
	}
	if n := len(st.up.received()); n != 1 {
		t.Errorf("upstream received %d requests, want 1 (before the revocation)", n)
	}
}
