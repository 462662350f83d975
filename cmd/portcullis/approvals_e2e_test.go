package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/examples/upstream"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

const (
	approvalsPrefix = "/approvals-e2e"
	acmeAdminKey    = "pk_acmeadm1_DemoAcmeAdminSecret00000000000000001"
)

// approvalStack is issue 20's end-to-end setup on loopback: a real etcd in
// process, the collector storing the trail as portcullis dev runs it, a
// service that counts the X-Portcullis-Approval headers it receives, and
// two sidecars watching etcd and auditing to the collector.
type approvalStack struct {
	devStack
	leaked atomic.Int64 // requests that reached the service with X-Portcullis-Approval
}

// approvalPolicy is the example policy with limits that never refuse in
// these tests, and POST /v1/exports also requiring an approval, for 3s.
func approvalPolicy(doc []byte) []byte {
	for _, r := range [][2]string{
		{"limit: {rate: 10/min, burst: 5}\n    concurrency: {max: 2, queue: 2, max_wait: 2s}", "limit: {rate: 1000/s, burst: 1000}\n    concurrency: {max: 64, queue: 64, max_wait: 30s}"},
		{"{method: POST, path: /v1/exports, class: bulk, scopes: [export:data]}", "{method: POST, path: /v1/exports, class: bulk, scopes: [export:data], approval: {required: true, max_age: 3s}}"},
		{"limit: {rate: 20/s, burst: 40}", "limit: {rate: 1000/s, burst: 1000}"},
		// acme-admin's limit holds across the sidecars (scope: global), a
		// sidecar's share following where the traffic was: one that had
		// little when the shares were computed admitted a burst of four (a
		// tenth of 40), and the burst below read 429s where 403s were due
		// (CI, loaded: "[403 403 403 429 403 403 429 403 200 403]").
		{"limit: {rate: 20/s, burst: 40, scope: global}", "limit: {rate: 1000/s, burst: 1000}"},
	} {
		if !bytes.Contains(doc, []byte(r[0])) {
			panic("example policy lacks " + r[0])
		}
		doc = bytes.ReplaceAll(doc, []byte(r[0]), []byte(r[1]))
	}
	return doc
}

func startApprovalStack(tb testing.TB) *approvalStack {
	tb.Helper()
	s := &approvalStack{}
	doc := approvalPolicy(mustRead(tb, examplePolicy))
	s.devStack = startDevStack(tb, tb.TempDir(), approvalsPrefix, doc, func(ctx *fasthttp.RequestCtx) {
		if len(ctx.Request.Header.Peek("X-Portcullis-Approval")) > 0 {
			s.leaked.Add(1)
		}
		upstream.Handler(ctx)
	}, nil)
	return s
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// export sends POST path through sidecar i with acme-admin's key and the
// approval id (none when ""), and returns the status and the error code
// of a denial.
func (s *approvalStack) export(i int, path, approval string) (int, string) {
	req, _ := http.NewRequest("POST", "http://"+s.sidecars[i%len(s.sidecars)]+path, strings.NewReader("{}"))
	req.Header.Set("X-API-Key", acmeAdminKey)
	if approval != "" {
		req.Header.Set("X-Portcullis-Approval", approval)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.tb.Errorf("POST %s: %v", path, err)
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Error, Message, RequestID string }
	if resp.StatusCode != 200 {
		if err := json.Unmarshal(body, &e); err != nil {
			s.tb.Errorf("POST %s answered %d with %q: not the JSON denial shape", path, resp.StatusCode, body)
		}
	}
	return resp.StatusCode, e.Error
}

// cli runs an approvals subcommand as the binary would, and returns its
// exit code and output.
func (s *approvalStack) cli(name string, args ...string) (int, string) {
	var out, errOut bytes.Buffer
	args = append(args, "--etcd", s.etcd, "--prefix", approvalsPrefix)
	code := etcdSub(s.tb, "approvals "+name).main(args, &out, &errOut)
	return code, out.String() + errOut.String()
}

// request asks for an approval as requester and returns its id.
func (s *approvalStack) request(client, route, requester string) string {
	s.tb.Helper()
	code, out := s.cli("request", "--client", client, "--route", route, "--reason", "quarterly export", "--ticket", "CHG-20", "--actor", requester, "--json")
	var ap etcdsync.Approval
	if code != 0 || json.Unmarshal([]byte(out), &ap) != nil || ap.ID == "" {
		s.tb.Fatalf("approvals request = exit %d: %s", code, out)
	}
	return ap.ID
}

// grant grants id as approver and fails the test unless it is granted.
func (s *approvalStack) grant(id, approver string) {
	s.tb.Helper()
	if code, out := s.cli("grant", id, "--approver", approver, "--note", "checked the ticket", "--actor", approver); code != 0 {
		s.tb.Fatalf("approvals grant %s = exit %d: %s", id, code, out)
	}
}

// TestApprovalsEndToEnd is issue 20's done-when for approvals, over real
// HTTP with the embedded etcd and two sidecars: a bulk export without an
// approval is 403; with a granted single-use approval exactly one of
// several concurrent requests through both sidecars is admitted; a
// self-approval is refused; an expired, denied, or another client's or
// route's approval is refused; every step is in the collector's trail and
// the audit records carry the approval id; the header never reaches the
// service.
func TestApprovalsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and the whole stack")
	}
	s := startApprovalStack(t)
	const full = "/v1/exports/full"

	// No approval, and a made-up one, on both sidecars.
	for i := range s.sidecars {
		if code, e := s.export(i, full, ""); code != 403 || e != "approval_required" {
			t.Errorf("sidecar %d without approval = %d %q, want 403 approval_required", i, code, e)
		}
		if code, e := s.export(i, full, "apr_0000000000000000"); code != 403 || e != "approval_required" {
			t.Errorf("sidecar %d with an unknown approval = %d %q, want 403 approval_required", i, code, e)
		}
	}
	// The route without approval is unchanged... except in this policy;
	// a standard route still answers.
	if got := status("http://"+s.sidecars[0]+"/v1/users", acmeAdminKey); got != 403 {
		t.Errorf("GET /v1/users as acme-admin = %d, want 403 (no read:users scope)", got)
	}

	// Self-approval is refused, and the request stays pending: unusable.
	id := s.request("acme-admin", "POST "+full, "alice")
	if code, out := s.cli("grant", id, "--approver", "alice", "--note", "me", "--actor", "alice"); code != 1 || !strings.Contains(out, "cannot also grant") {
		t.Errorf("self-approval = exit %d: %s; want exit 1 naming the two-person rule", code, out)
	}
	if code, e := s.export(0, full, id); code != 403 || e != "approval_required" {
		t.Errorf("pending approval = %d %q, want 403 approval_required", code, e)
	}

	// Granted by bob: of 10 concurrent requests over both sidecars, one.
	s.grant(id, "bob")
	const n = 10
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			codes[i], _ = s.export(i, full, id)
		})
	}
	close(start)
	wg.Wait()
	admitted, refused := 0, 0
	for _, c := range codes {
		switch c {
		case 200:
			admitted++
		case 403:
			refused++
		}
	}
	if admitted != 1 || refused != n-1 {
		t.Errorf("single-use approval over two sidecars: %v; want exactly one 200 and %d 403", codes, n-1)
	}
	if code, e := s.export(1, full, id); code != 403 || e != "approval_required" {
		t.Errorf("used approval = %d %q, want 403", code, e)
	}
	if ap, err := s.admin.ShowApproval(context.Background(), id); err != nil || ap.Uses != 1 {
		t.Errorf("approval after the burst: %+v, %v; want 1 use", ap, err)
	}

	// Another client's approval, and one for another route.
	other := s.request("acme-hris", "POST "+full, "alice")
	s.grant(other, "bob")
	if code, e := s.export(0, full, other); code != 403 || e != "approval_required" {
		t.Errorf("acme-hris's approval used by acme-admin = %d %q, want 403", code, e)
	}
	wrongRoute := s.request("acme-admin", "POST /v1/exports", "alice")
	s.grant(wrongRoute, "bob")
	if code, e := s.export(1, full, wrongRoute); code != 403 || e != "approval_required" {
		t.Errorf("approval for POST /v1/exports used on %s = %d %q, want 403", full, code, e)
	}

	// Denied: refused.
	denied := s.request("acme-admin", "POST "+full, "alice")
	if code, out := s.cli("deny", denied, "--reason", "not this quarter", "--actor", "carol"); code != 0 {
		t.Fatalf("approvals deny = exit %d: %s", code, out)
	}
	if code, e := s.export(0, full, denied); code != 403 || e != "approval_required" {
		t.Errorf("denied approval = %d %q, want 403", code, e)
	}
	// deny takes grant's --approver and --note (it refused them as
	// unknown flags): the record names who denied it and why.
	named := s.request("acme-admin", "POST "+full, "alice")
	if code, out := s.cli("deny", named, "--approver", "dave", "--note", "no ticket", "--actor", "carol"); code != 0 {
		t.Fatalf("approvals deny --approver --note = exit %d: %s", code, out)
	}
	if ap, err := s.admin.ShowApproval(context.Background(), named); err != nil || ap.Approver != "dave" || ap.Note != "no ticket" {
		t.Errorf("denied with --approver dave --note: record %+v, %v; want approver dave, note %q", ap, err, "no ticket")
	}

	// Expired: POST /v1/exports grants live 3s. One used at once is
	// admitted; the other, once its lease has taken it out of etcd, not.
	fresh := s.request("acme-admin", "POST /v1/exports", "alice")
	late := s.request("acme-admin", "POST /v1/exports", "alice")
	s.grant(fresh, "bob")
	s.grant(late, "bob")
	if code, _ := s.export(0, "/v1/exports", fresh); code != 200 {
		t.Errorf("fresh 3s approval = %d, want 200", code)
	}
	pollUntil(t, 60*time.Second, "the lease of the 3s grant to expire", func() (bool, string) {
		_, err := s.admin.ShowApproval(context.Background(), late)
		return errors.Is(err, etcdadmin.ErrNotFound), ""
	})
	for i := range s.sidecars {
		if code, e := s.export(i, "/v1/exports", late); code != 403 || e != "approval_required" {
			t.Errorf("expired approval on sidecar %d = %d %q, want 403", i, code, e)
		}
	}
	if n := s.leaked.Load(); n != 0 {
		t.Errorf("%d requests reached the service with X-Portcullis-Approval; want none", n)
	}
	s.checkTrail(id, denied)
}

// checkTrail waits for the collector's trail to hold every step of the
// approval id (request, grant, one use) and of the denied one, and the
// audit records of id's requests: one allowed and the rest
// approval_required, each naming id.
func (s *approvalStack) checkTrail(id, denied string) {
	s.tb.Helper()
	dir := filepath.Join(s.data, "audit")
	pollUntil(s.tb, 90*time.Second, "every approval step in the trail", func() (bool, string) {
		seen := map[string]int{}
		collector.QueryEvents(dir, time.Time{}, time.Time{}, func(ev *collector.Event) error {
			if ev.Target == id || ev.Target == denied {
				seen[ev.Target+" "+ev.Action]++
			}
			if ev.Unverified != "" && strings.HasPrefix(ev.Action, "approval.") {
				s.tb.Errorf("event %s %s unverified: %s", ev.Action, ev.Target, ev.Unverified)
			}
			return nil
		})
		want := map[string]int{id + " approval.request": 1, id + " approval.grant": 1, id + " approval.use": 1,
			denied + " approval.request": 1, denied + " approval.deny": 1}
		for k, n := range want {
			if seen[k] != n {
				return false, k
			}
		}
		return len(seen) == len(want), ""
	})
	pollUntil(s.tb, 90*time.Second, "the audit records naming the approval", func() (bool, string) {
		allowed, refused := 0, 0
		collector.QueryRecords(dir, collector.Filter{Route: "/v1/exports/full"}, func(r *collector.StoredRecord) error {
			if r.ApprovalID != id {
				return nil
			}
			switch r.Decision {
			case "allowed":
				allowed++
			case "approval_required":
				refused++
			}
			return nil
		})
		// 1 self-approval attempt while pending, 9 of the burst, 1 after.
		return allowed == 1 && refused == 11, ""
	})
}
