package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// ticketAddr is where examples/policy.yaml sends its secops webhook, and
// ticketSecret the demo's HMAC secret, handed to portcullis dev as
// PORTCULLIS_TICKET_SECRET (demo only).
const (
	ticketAddr   = "127.0.0.1:9099"
	ticketSecret = "demo-ticket-secret-not-for-production"
	guessedKey   = "pk_acmehris1_GuessedSecret0000000000000000000000"
)

// ticketReceiver is the demo's webhook receiver: it verifies each
// delivery as a ticketing system should and keeps the one of the
// token-guessing rule (the earlier steps fire other rules too).
type ticketReceiver struct {
	mu      sync.Mutex // guards the following fields
	body    []byte
	header  http.Header
	verdict string
	got     chan struct{}
	n       int // deliveries accepted
}

func startTicketReceiver() (*ticketReceiver, func(), error) {
	ln, err := net.Listen("tcp", ticketAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot listen on %s for the demo's ticket webhook: %w", ticketAddr, err)
	}
	r := &ticketReceiver{got: make(chan struct{})}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return r, func() { srv.Close() }, nil
}

func (r *ticketReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	err := alert.VerifyWebhook([]byte(ticketSecret), req.Header, body, time.Now(), 5*time.Minute)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var p struct {
		Alert alert.Alert `json:"alert"`
	}
	json.Unmarshal(body, &p)
	r.n++
	if r.body == nil && p.Alert.Rule == "token-guessing-client" {
		r.body, r.header = body, req.Header.Clone()
		r.verdict = "signature verified: v2 HMAC-SHA256 over timestamp, delivery id and body matches, timestamp within 5m, delivery " + req.Header.Get(alert.HeaderDelivery)
		close(r.got)
	}
	fmt.Fprintf(w, `{"ticket":"SEC-%d"}`, 100+r.n)
}

// detection runs issue 14's chain: a token-guessing burst becomes an
// alert and a signed ticket arrives at the receiver, but suspends no one
// (a key id is no secret: anyone could lock a client out); a credential
// probing another tenant's paths becomes an alert whose rule action
// suspends its client; that alert is closed with a note. It returns the
// id of the alert that contained.
func (d *demo) detection(rcv *ticketReceiver) (string, error) {
	fmt.Println("\n== token guessing: 25 wrong secrets under acme-hris's key id (rule token-guessing-client: 20 in 1m, notify)")
	time.Sleep(2 * time.Second) // acme-hris's bucket refills after the lifecycle steps
	counts := map[int]int{}
	for range 25 {
		counts[status(guessedKey)]++
	}
	fmt.Printf("   statuses: %v\n", counts)
	select {
	case <-rcv.got:
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("no ticket reached the webhook at %s in 30s", ticketAddr)
	}
	rcv.mu.Lock()
	var payload struct {
		Event string      `json:"event"`
		Alert alert.Alert `json:"alert"`
	}
	json.Unmarshal(rcv.body, &payload)
	fmt.Printf("   ticket webhook received %s for %s (rule %s, %s %s, count %d)\n   %s: %s\n   %s: %s\n   %s\n",
		payload.Event, payload.Alert.ID, payload.Alert.Rule, payload.Alert.Group, payload.Alert.Key, payload.Alert.Count,
		alert.HeaderTimestamp, rcv.header.Get(alert.HeaderTimestamp), alert.HeaderSignature, rcv.header.Get(alert.HeaderSignature), rcv.verdict)
	rcv.mu.Unlock()
	fmt.Printf("   acme-hris's real key still -> %d: the key id is in every key and every service's X-Portcullis-Key-Id, so\n"+
		"   guesses under it only alert; a rule that suspends or revokes counts verified credentials only\n", status(hrisKey))

	fmt.Println("\n== tenant probing: acme-hris's own key asks for globex's users 6 times (rule tenant-probe: 5 in 10m, action suspend 15m)")
	start := time.Now()
	counts = map[int]int{}
	for range 6 {
		counts[get("/v1/tenants/globex/users", hrisKey)]++
	}
	fmt.Printf("   statuses: %v (403 tenant_mismatch)\n", counts)
	code := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && code != 403; time.Sleep(50 * time.Millisecond) {
		code = status(hrisKey)
	}
	fmt.Printf("   acme-hris's key on its own tenant's route now -> %d (suspended by the rule action, %s after the first probe)\n", code, time.Since(start).Round(time.Millisecond))
	if code != 403 {
		return "", fmt.Errorf("acme-hris was not suspended within 30s of probing globex's paths (last status %d)", code)
	}
	id, err := d.alertOf("tenant-probe")
	if err != nil {
		return "", err
	}
	if err := d.cli("alerts", "list", "--data", filepath.Join(d.data, "audit"), "--public-key", filepath.Join(d.data, "audit-signing.key.pub")); err != nil {
		return id, err
	}
	fmt.Printf("\n== portcullis alerts close %s --note ... --corrective-action ...\n", id)
	if err := d.cli("alerts", "close", id, "--note", "an integration probing another tenant's paths; its owner was told", "--corrective-action", "client suspended, owner asked to fix the integration", "--actor", "demo-operator"); err != nil {
		return id, err
	}
	return id, d.waitClosed(id)
}

// alertOf waits for the collector to store an alert of rule and returns
// its id.
func (d *demo) alertOf(rule string) (string, error) {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		all, _ := alert.Load(filepath.Join(d.data, "audit"))
		for _, a := range all {
			if a.Rule == rule {
				return a.ID, nil
			}
		}
	}
	return "", fmt.Errorf("no %s alert reached the trail in 30s", rule)
}

// waitClosed waits until the collector has stored the closure from etcd.
func (d *demo) waitClosed(id string) error {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		all, _ := alert.Load(filepath.Join(d.data, "audit"))
		for _, a := range all {
			if a.ID == id && a.Status == alert.StatusClosed {
				return d.admin.Resume(context.Background(), "acme-hris", etcdadmin.Meta{Actor: "demo-operator", Reason: "closed alert " + id})
			}
		}
	}
	return fmt.Errorf("the closure of %s did not reach the trail in 30s", id)
}

// cli runs a portcullis command against the dev stack's etcd and prints
// its output.
func (d *demo) cli(args ...string) error {
	_, err := d.cliOutput(args...)
	return err
}
