package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/examples"
)

// TestJTIControlCharacterOverTheWire: `keys revoke jti:<id>` cannot name a
// jti holding a control character, so the verifier refuses such a token
// (bad_claim, TestVerifyJTIRevocable). That unit test signs its claims
// with json.Marshal, which never spells a C1 control as an escape; here
// the token goes over a real socket to a sidecar whose policy comes from
// a real etcd, its jti spelled in the JSON payload as "\u0007" and as
// "\u0085": each is 401 with the JSON error shape and audited
// unauthenticated, counted as bad_claim. A token of the same issuer with
// a plain jti gets in, and once that jti is revoked by `keys revoke`
// (the command, through etcd) it is refused as well, not as bad_claim.
func TestJTIControlCharacterOverTheWire(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	r := newRig(t, "10000/s", "10000/s")
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	f := sidecarFlags{etcd: etcdConnFlags{endpoints: r.endpoints, prefix: r.prefix}, stateDir: t.TempDir(), pod: "jti-pod",
		upstream: r.upstream, listen: freeAddr(t), admin: freeAddr(t), auditFile: auditFile, spoolDir: filepath.Join(t.TempDir(), "spool"),
		drain: 5 * time.Second, drainDelay: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sidecar(ctx, f, zerolog.Nop()) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sidecar stopped with %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("sidecar did not stop")
		}
	})
	r.waitFor("the sidecar to serve the policy", func() bool { return rigStatus("http://"+f.listen+"/v1/status", "") == 200 })

	seed, err := base64.RawURLEncoding.DecodeString(examples.DemoIssuerSeed)
	if err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(seed)
	url := "http://" + f.listen + "/v1/users/7"
	badClaims := func() float64 { return rigMetric(f.admin, `portcullis_jwt_refused_total{status="bad_claim"}`) }

	plain := signJTIToken(key, `"e2e-plain-1"`)
	if code, _, body := jtiGet(t, url, plain); code != 200 {
		t.Fatalf("a token with jti e2e-plain-1: %d %s, want 200", code, body)
	}
	for i, jti := range []string{`"e2e\u0007bell"`, `"e2e\u0085nel"`} {
		code, h, body := jtiGet(t, url, signJTIToken(key, jti))
		var e struct {
			Error     string `json:"error"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		}
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || code != 401 || e.Error != "unauthenticated" || e.Message == "" ||
			e.RequestID == "" || e.RequestID != h.Get("X-Request-ID") || h.Get("Content-Type") != "application/json" ||
			h.Get("WWW-Authenticate") != `Bearer realm="portcullis"` {
			t.Errorf("jti %s: %d %v %s (%v), want 401 with the JSON error unauthenticated, its request id and a Bearer challenge", jti, code, h, body, err)
			continue
		}
		r.waitFor("the refusal of jti "+jti+" audited", func() bool { return jtiAudited(t, auditFile, e.RequestID, "unauthenticated", 401) })
		if got := badClaims(); got != float64(i+1) {
			t.Errorf("after jti %s: %v tokens refused as bad_claim, want %d", jti, got, i+1)
		}
	}

	var out, errOut bytes.Buffer
	revoke, _ := lookupEtcd("keys revoke")
	common := []string{"--etcd", r.endpoints, "--prefix", r.prefix, "--reason", "leaked", "--actor", "sec"}
	if got := revoke.main(append([]string{"jti:e2e\abell"}, common...), &out, &errOut); got == 0 {
		t.Errorf("keys revoke of a jti holding a control character = exit 0, want it refused:\n%s%s", &out, &errOut)
	}
	out.Reset()
	errOut.Reset()
	if got := revoke.main(append([]string{"jti:e2e-plain-1"}, common...), &out, &errOut); got != 0 {
		t.Fatalf("keys revoke jti:e2e-plain-1 = exit %d:\n%s%s", got, &out, &errOut)
	}
	var id string
	r.waitFor("the revoked jti refused", func() bool {
		code, h, _ := jtiGet(t, url, plain)
		id = h.Get("X-Request-ID")
		return code == 401
	})
	r.waitFor("the revoked jti's refusal audited", func() bool { return jtiAudited(t, auditFile, id, "unauthenticated", 401) })
	if got := badClaims(); got != 2 {
		t.Errorf("the revoked jti counted as bad_claim: %v, want 2", got)
	}
}

// signJTIToken signs an access token of the demo issuer for acme-hris
// whose payload spells the jti as jtiJSON, a JSON string as written.
func signJTIToken(key ed25519.PrivateKey, jtiJSON string) string {
	now := time.Now().Unix()
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`))
	payload := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil,
		`{"iss":"https://idp.demo.example","aud":"portcullis-demo","sub":"svc-acme-hris","client_id":"acme-hris","tenant":"acme",`+
			`"scope":"read:users","jti":%s,"iat":%d,"nbf":%d,"exp":%d}`, jtiJSON, now, now, now+600))
	signing := header + "." + payload
	return signing + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(signing)))
}

// jtiGet sends GET url with the token as a bearer credential and returns
// the status, headers and body.
func jtiGet(t *testing.T, url, token string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// jtiAudited reports whether the audit file holds the record of request
// id with the decision and status, made with an access token.
func jtiAudited(t *testing.T, path, id, decision string, status int) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			RequestID  string `json:"request_id"`
			Decision   string `json:"decision"`
			Status     int    `json:"status"`
			AuthMethod string `json:"auth_method"`
		}
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.RequestID == id {
			if r.Decision != decision || r.Status != status || r.AuthMethod != "jwt" {
				t.Errorf("request %s audited %+v, want decision %s, status %d, auth method jwt", id, r, decision, status)
			}
			return true
		}
	}
	return false
}
