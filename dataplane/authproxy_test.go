package dataplane

import (
	"strings"
	"testing"
)

// Finding (review75): the sidecar removed the identity headers of many
// authenticating proxies (review40, review48, review53), but not those of
// Keycloak's Gatekeeper (Louketo Proxy, now gogatekeeper), which hands its
// service the login it checked as X-Auth-Userid, -Username, -Email,
// -Subject, -Roles, -Groups, -Audience and -ExpiresIn, nor the
// X-Auth-User/-UserId/-Role(s) of nginx-jwt and of the gateways Spring
// services written for them trust (a OncePerRequestFilter granting the
// authorities X-Auth-Roles lists); nor Vouch Proxy's X-Vouch-User and
// X-Vouch-Idp-Claims-*, which nginx's auth_request passes on; nor
// Tailscale's Tailscale-User-Login, -Name, -Profile-Pic and
// Tailscale-App-Capabilities (tailscale serve); nor IBM WebSEAL's iv-user,
// iv-groups, iv-creds and iv-remote-address, which its junctioned
// applications take for the user. X-Auth-Roles: admin from a client
// holding read:users reached the service as the client's word.

// TestAuthProxyIdentityHeadersDropped sends those headers, in several
// cases, beside an acme key over a real socket: none reaches the
// upstream. X-Auth-Token and X-Auth-Key (a service's own login, as
// OpenStack's and Swift's) and names that only look alike go on.
func TestAuthProxyIdentityHeadersDropped(t *testing.T) {
	forged := []string{"X-Auth-Userid", "X-Auth-Username", "X-Auth-User", "x-auth-userid", "X-Auth-Email",
		"X-Auth-Roles", "X-AUTH-ROLE", "X-Auth-Groups", "X-Auth-Subject", "X-Auth-Audience", "X-Auth-ExpiresIn",
		"X-Vouch-User", "X-Vouch-Idp-Claims-Groups", "Tailscale-User-Login", "tailscale-user-name",
		"Tailscale-User-Profile-Pic", "Tailscale-App-Capabilities", "iv-user", "IV-Groups", "iv-creds",
		"iv-remote-address", "iv-user-l"}
	kept := []string{"X-Auth-Token", "X-Auth-Key", "X-Authz-Debug", "X-Auth", "Tailscale", "X-Vouch", "Ivy-Version", "X-Auth-Nonce"}
	if through := sentThrough(t, forged, kept, "admin"); len(through) > 0 { // certheader_test.go
		t.Errorf("the upstream got %d of %d authenticating proxies' identity headers as the client wrote them: %s; want none",
			len(through), len(forged), strings.Join(through, ", "))
	}
}

// Finding (attack804): still not removed were the identity headers of
// caddy-security (AuthCrunch), whose "inject headers with claims" hands
// its service X-Token-Subject, X-Token-User-Name, -Email and -Roles (apps
// written for it log the user in from X-Token-Subject); of caddy-jwt,
// which passes every claim as Token-Claim-<Name> (Token-Claim-Role:
// admin) and strips those a request brings for that reason; and AWS
// Verified Access's x-amzn-ava-user-context, the signed claims an app
// behind it reads as the user (a client replays its own from another
// app). X-Token-User-Roles: superadmin from a client holding read:users
// reached the service as the client's word.

// TestCaddyAndVerifiedAccessIdentityHeadersDropped sends those headers, in
// several cases, beside an acme key over a real socket: none reaches the
// upstream; names that only look alike go on.
func TestCaddyAndVerifiedAccessIdentityHeadersDropped(t *testing.T) {
	forged := []string{"X-Token-Subject", "x-token-subject", "X-Token-User-Name", "X-TOKEN-USER-EMAIL",
		"X-Token-User-Roles", "Token-Claim-User", "token-claim-role", "Token-Claim-Groups",
		"x-amzn-ava-user-context", "X-Amzn-Ava-User-Context"}
	kept := []string{"X-Token", "X-Token-Type", "Token", "Token-Claims", "X-Amzn-Trace-Id", "X-Token-Username"}
	if through := sentThrough(t, forged, kept, "superadmin"); len(through) > 0 { // certheader_test.go
		t.Errorf("the upstream got %d of %d proxies' identity headers as the client wrote them: %s; want none",
			len(through), len(forged), strings.Join(through, ", "))
	}
}
