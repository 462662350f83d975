// Command demo walks through what Portcullis enforces, on screen. It starts
// `portcullis dev` (embedded etcd with examples/policy.yaml, the audit
// collector, the demo service and a sidecar), sends requests a person can
// follow (allowed, no key, wrong scope, another tenant's path, revoked key, privileged, wrong
// network, path trick, too large, rate limited, a JWT from the demo
// issuer), runs the key lifecycle through etcd (create, rotate with
// overlap, revoke, suspend and resume a client), walks a full export
// through the two-person rule (refused, requested, granted by a second
// person, used once, refused again), and shows each status,
// the error body and the audit record the collector stored. A token-guessing
// burst then becomes an alert and a signed ticket at a local webhook
// receiver (and suspends no one), and a key probing another tenant's paths
// an alert, a suspension through etcd and a closed alert. It ends with an audit
// query, a verification of the tamper-evident store, the incident report
// and the evidence pack of the demo's month with its manifest table.
// `make demo` runs it.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/examples"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// Demo keys from examples/policy.yaml; their secrets are public on purpose.
const (
	hrisKey    = "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"
	adminKey   = "pk_acmeadm1_DemoAcmeAdminSecret00000000000000001"
	revokedKey = "pk_revoked1_DemoRevokedSecret00000000000000000001"
)

const (
	sidecarAddr = "127.0.0.1:18080"
	adminAddr   = "127.0.0.1:19901"
)

func main() {
	bin := flag.String("bin", "bin/portcullis", "portcullis `binary`")
	flag.Parse()
	if err := run(*bin); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// demo holds what the steps share.
type demo struct {
	bin, data string
	admin     *etcdadmin.Admin
	seq       int
}

func run(bin string) error {
	data, err := os.MkdirTemp("", "portcullis-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	rcv, stopReceiver, err := startTicketReceiver()
	if err != nil {
		return err
	}
	defer stopReceiver()
	os.Setenv("PORTCULLIS_TICKET_SECRET", ticketSecret) // the secops sink's secret, by reference in the policy
	if err := portsFree(sidecarAddr, adminAddr); err != nil {
		return err
	}
	dev, err := start(bin, "dev", "--data", data, "--listen", sidecarAddr, "--admin", adminAddr, "--log-level", "warn")
	if err != nil {
		return err
	}
	defer stop(dev)
	if err := waitReady("http://" + adminAddr + "/readyz"); err != nil {
		return err
	}
	endpoints, err := os.ReadFile(filepath.Join(data, "etcd-endpoints"))
	if err != nil {
		return err
	}
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: strings.Split(string(endpoints), ",")})
	if err != nil {
		return err
	}
	defer cli.Close()
	d := &demo{bin: bin, data: data, admin: etcdadmin.New(cli, etcdsync.DefaultPrefix)}
	fmt.Printf("portcullis dev is up: etcd %s, sidecar %s, collector and demo service behind it\n", endpoints, sidecarAddr)
	for _, s := range requestSteps() {
		if err := d.send(s); err != nil {
			return err
		}
	}
	if err := d.lifecycle(); err != nil {
		return err
	}
	if err := d.approvals(); err != nil { // approvals.go
		return err
	}
	alertID, err := d.detection(rcv)
	if err != nil {
		return err
	}
	fmt.Println("\n== shutting down with SIGTERM: in-flight requests finish, audit batches are flushed")
	if err := stop(dev); err != nil {
		return err
	}
	if err := d.auditReport(); err != nil {
		return err
	}
	fmt.Printf("\n== portcullis incident report %s --data DIR --public-key KEY.pub\n", alertID)
	if err := d.cli("incident", "report", alertID, "--data", filepath.Join(data, "audit"), "--public-key", filepath.Join(data, "audit-signing.key.pub"),
		"--policy", filepath.Join("examples", "policy.yaml")); err != nil {
		return err
	}
	return d.evidencePack()
}

// step is one request of the walkthrough.
type step struct {
	title, method, path string
	headers             map[string]string
	body                string
	repeat              int // send this many times, show the last
}

func key(k string) map[string]string { return map[string]string{"X-API-Key": k} }

func requestSteps() []step {
	return []step{
		{title: "allowed: acme-hris reads a user", method: "GET", path: "/v1/users/42", headers: key(hrisKey)},
		{title: "no key: default deny", method: "GET", path: "/v1/users/42"},
		{title: "wrong scope: acme-hris has no read:reports", method: "GET", path: "/v1/reports/7", headers: key(hrisKey)},
		{title: "another tenant's path: acme-hris asks for globex's users ({tenant} in the route binds the caller's tenant)", method: "GET", path: "/v1/tenants/globex/users", headers: key(hrisKey)},
		{title: "revoked key: same 401 as any bad credential", method: "GET", path: "/v1/users", headers: key(revokedKey)},
		{title: "privileged allowed: admin settings from 127.0.0.1", method: "PUT", path: "/v1/admin/settings", headers: key(adminKey), body: `{"sso":"on"}`},
		{title: "privileged from the wrong network: integrations need 10.0.0.0/8", method: "POST", path: "/v1/integrations", headers: key(adminKey)},
		{title: "path trick: ../ is resolved before the route check", method: "PUT", path: "/v1/users/%2e%2e/admin/settings", headers: key(hrisKey)},
		// Expect: 100-continue, as curl sends for a large body: the 413
		// comes before a byte of the body is sent (without it the client
		// may still be writing when the sidecar answers and closes).
		{title: "too large: 100 KiB to a 64 KiB bulk endpoint, refused before the body is sent", method: "POST", path: "/v1/exports",
			headers: map[string]string{"X-API-Key": adminKey, "Expect": "100-continue"}, body: strings.Repeat("x", 100<<10)},
		{title: "rate limited: acme-hris sends 12 requests at 5/s burst 10", method: "GET", path: "/v1/users", headers: key(hrisKey), repeat: 12},
		{title: "OAuth: a JWT access token minted by the local demo issuer", method: "GET", path: "/v1/users/7",
			headers: map[string]string{"Authorization": "Bearer " + mintDemoToken("acme-hris", "acme", "read:users")}},
	}
}

// send runs one step and shows status, error body and the audit record.
func (d *demo) send(s step) error {
	fmt.Printf("\n== %s\n$ %s %s\n", s.title, s.method, s.path)
	var status int
	var hdr http.Header
	var body, reqID string
	for i := 0; i < max(s.repeat, 1); i++ {
		d.seq++
		reqID = fmt.Sprintf("demo-%03d", d.seq)
		req, err := http.NewRequest(s.method, "http://"+sidecarAddr+s.path, strings.NewReader(s.body))
		if err != nil {
			return err
		}
		req.Header.Set("X-Request-ID", reqID)
		for k, v := range s.headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", s.method, s.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		status, hdr, body = resp.StatusCode, resp.Header, strings.TrimSpace(string(b))
	}
	fmt.Printf("-> %d %s\n", status, http.StatusText(status))
	for _, h := range []string{"Retry-After", "RateLimit-Policy", "RateLimit"} {
		if v := hdr.Get(h); v != "" {
			fmt.Printf("   %s: %s\n", h, v)
		}
	}
	fmt.Printf("   body:  %s\n", body)
	fmt.Printf("   audit: %s\n", d.auditRecord(reqID))
	return nil
}

// auditRecord waits for the collector to store the record of reqID (the
// sidecar batches for up to a second) and returns it as JSON.
func (d *demo) auditRecord(reqID string) string {
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		var found string
		collector.QueryRecords(filepath.Join(d.data, "audit"), collector.Filter{}, func(r *collector.StoredRecord) error {
			if r.RequestID == reqID {
				found = string(r.AppendJSON(nil))
			}
			return nil
		})
		if found != "" {
			return found
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "(not stored yet)"
}

// status sends one GET /v1/users with an API key and returns the status code.
func status(apiKey string) int { return get("/v1/users", apiKey) }

// get sends one GET of path with an API key and returns the status code.
func get(path, apiKey string) int {
	req, _ := http.NewRequest("GET", "http://"+sidecarAddr+path, nil)
	req.Header.Set("X-API-Key", apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// lifecycle rotates, revokes and suspends through etcd, as an operator
// would with `portcullis keys ...` and `portcullis clients ...`.
func (d *demo) lifecycle() error {
	ctx := context.Background()
	meta := etcdadmin.Meta{Actor: "demo-operator", Reason: "demo walkthrough", Ticket: "DEMO-42"}
	fmt.Println("\n== key lifecycle through etcd: the etcdadmin.Admin calls behind `portcullis keys create / rotate / revoke` and `clients suspend / resume`")
	time.Sleep(2 * time.Second) // let acme-hris's bucket refill after the rate-limit step
	k1, spec, err := d.admin.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		return err
	}
	fmt.Printf("keys create --client acme-hris    -> key %s created (secret shown once, only its SHA-256 stored)\n", spec.ID)
	fmt.Printf("   request with the new key        -> %d\n", waitStatus(k1, 200))
	k2, spec2, err := d.admin.RotateKey(ctx, spec.ID, time.Minute, meta)
	if err != nil {
		return err
	}
	fmt.Printf("keys rotate %s --overlap 1m   -> new key %s; the old one expires in 1m\n", spec.ID, spec2.ID)
	fmt.Printf("   old key during the overlap      -> %d\n", waitStatus(k1, 200))
	fmt.Printf("   new key                         -> %d\n", waitStatus(k2, 200))
	if _, err := d.admin.RevokeKey(ctx, spec.ID, meta); err != nil {
		return err
	}
	t0 := time.Now()
	code := waitStatus(k1, 401)
	fmt.Printf("keys revoke %s                -> old key %d after %s (from the etcd write's answer to the first 401)\n", spec.ID, code, time.Since(t0).Round(10*time.Microsecond))
	if _, err := d.admin.Suspend(ctx, "acme-hris", time.Minute, meta); err != nil {
		return err
	}
	fmt.Printf("clients suspend acme-hris --for 1m -> new key %d (suspended; the suspension is a lease that lifts itself)\n", waitStatus(k2, 403))
	if err := d.admin.Resume(ctx, "acme-hris", meta); err != nil {
		return err
	}
	fmt.Printf("clients resume acme-hris          -> new key %d\n", waitStatus(k2, 200))
	return nil
}

// waitStatus polls until the sidecar answers want (the watch applies etcd
// writes within milliseconds) and returns the last status seen.
func waitStatus(apiKey string, want int) int {
	var got int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if got = status(apiKey); got == want {
			break
		}
	}
	return got
}

// eventLine is how the demo prints a lifecycle event: time, action,
// target, then "by ACTOR" and "(reason, ticket)" with only the parts the
// event has. It printed every part, so the collector's events read
// "by portcullis-collector (, )" and an approval's use "by  (...)".
func eventLine(ev *collector.Event) string {
	line := fmt.Sprintf("   %s %-19s %s", ev.Time.Format(time.RFC3339), ev.Action, ev.Target)
	if ev.Actor != "" {
		line += " by " + ev.Actor
	}
	var why []string
	for _, s := range []string{ev.Reason, ev.Ticket} {
		if s != "" {
			why = append(why, s)
		}
	}
	if len(why) > 0 {
		line += " (" + strings.Join(why, ", ") + ")"
	}
	return line
}

// auditReport shows what the collector stored and verifies the store.
func (d *demo) auditReport() error {
	dir := filepath.Join(d.data, "audit")
	fmt.Println("\n== what the collector stored: portcullis audit query --data DIR --public-key KEY.pub --format table (last 12 records)")
	out, err := exec.Command(d.bin, "audit", "query", "--data", dir, "--public-key", filepath.Join(d.data, "audit-signing.key.pub"), "--format", "table").CombinedOutput()
	if err != nil {
		return fmt.Errorf("audit query: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	fmt.Println(lines[0])
	for _, l := range lines[max(1, len(lines)-12):] {
		fmt.Println(l)
	}
	fmt.Println("\n== lifecycle events in the same trail")
	collector.QueryEvents(dir, time.Time{}, time.Time{}, func(ev *collector.Event) error {
		fmt.Println(eventLine(ev))
		return nil
	})
	fmt.Println("\n== portcullis audit verify --data DIR --public-key KEY.pub --published-head HEAD (the head the collector published)")
	out, err = exec.Command(d.bin, "audit", "verify", "--data", dir, "--public-key", filepath.Join(d.data, "audit-signing.key.pub"),
		"--published-head", filepath.Join(d.data, "published-head.json")).CombinedOutput()
	fmt.Print(string(out))
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	return nil
}

// mintDemoToken signs an access token as the demo issuer of examples/policy.yaml.
func mintDemoToken(client, tenant, scope string) string {
	seed, _ := base64.RawURLEncoding.DecodeString(examples.DemoIssuerSeed)
	now := time.Now().Unix()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "EdDSA", "typ": "at+jwt", "kid": "demo-1"}) + "." + enc(map[string]any{
		"iss": "https://idp.demo.example", "aud": "portcullis-demo", "sub": "svc-" + client, "client_id": client,
		"tenant": tenant, "scope": scope, "jti": fmt.Sprintf("demo-%d", now), "iat": now, "nbf": now, "exp": now + 600,
	})
	return signing + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(ed25519.NewKeyFromSeed(seed), []byte(signing)))
}

func start(bin string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s %s: %w", bin, args[0], err)
	}
	return cmd, nil
}

func stop(cmd *exec.Cmd) error {
	if cmd.ProcessState != nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		return fmt.Errorf("%s did not stop on SIGTERM", cmd.Path)
	}
}

// portsFree says which of the demo's fixed addresses another process
// holds. Without it a second demo, or a `portcullis dev` left running,
// answered the readiness probe for the stack this demo started, and the
// demo failed later on a file that stack never wrote.
func portsFree(addrs ...string) error {
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("%s is in use (another `make demo` or `portcullis dev` still running?): stop it and run the demo again: %w", a, err)
		}
		ln.Close()
	}
	return nil
}

func waitReady(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the dev stack is not ready at %s", url)
}
