package dataplane

import (
	"strings"
	"testing"
)

// Finding (attack173): Kubernetes' impersonation headers and Kong's older
// X-Credential-Username went on as the client wrote them. A service that
// calls the API server with an account allowed to impersonate and passes
// its caller's headers on, or one written for Kong before 3.0, took
// "Impersonate-User: system:admin" or "Impersonate-Group: system:masters"
// from a client holding read:users for who it acts as. They are removed
// as the other gateways' identity headers are
// (TestGatewayIdentityHeadersDropped).
func TestImpersonationHeadersDropped(t *testing.T) {
	forged := []string{"Impersonate-User", "Impersonate-Group", "impersonate-uid", "IMPERSONATE-EXTRA-scopes",
		"Impersonate-Extra-Team", "X-Credential-Username"}
	kept := []string{"Impersonated-By", "Impersonate", "X-Credential-Hint"}
	if through := sentThrough(t, forged, kept, "admin"); len(through) > 0 { // certheader_test.go
		t.Errorf("the upstream got %d of %d impersonation headers as the client wrote them: %s; want none", len(through), len(forged), strings.Join(through, ", "))
	}
}
