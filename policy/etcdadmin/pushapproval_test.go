package etcdadmin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// strictPolicy is the example policy with lifecycle.privileged_key_approval
// on: keys create for acme-admin (privileged scopes) needs an approval.
func strictPolicy(t testing.TB) []byte {
	t.Helper()
	return edit(t, examplePolicy(t), "privileged_key_approval: false", "privileged_key_approval: true")
}

// edit returns doc with its one old replaced by new.
func edit(t testing.TB, doc []byte, old, new string) []byte {
	t.Helper()
	if bytes.Count(doc, []byte(old)) != 1 {
		t.Fatalf("the policy holds %q %d times, want once", old, bytes.Count(doc, []byte(old)))
	}
	return bytes.Replace(doc, []byte(old), []byte(new), 1)
}

// adminKey is a key for acme-admin, a client with privileged scopes,
// written into the document: it never went through keys create.
const adminKey = "keys:\n  - id: acmeadm9\n    client: acme-admin\n    sha256: 0000000000000000000000000000000000000000000000000000000000000009\n    created_at: \"2026-01-01T00:00:00Z\"\n"

// A policy push that weakens the two-person controls (here: turns
// lifecycle.privileged_key_approval off) was written on one operator's
// word: the insider the rule guards against undid it alone, then made a
// key for a privileged client without a second person. It now needs an
// approval granted by a second person for this very document, spent in
// the push's transaction.
func TestPushThatWeakensNeedsApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	strict := strictPolicy(t)
	push(t, a, strict)
	weak := edit(t, strict, "privileged_key_approval: true", "privileged_key_approval: false")
	other := edit(t, weak, "max_key_age: 87600h", "max_key_age: 8760h")
	alice, bob := Meta{Actor: "alice", Reason: "drop the key approval", Ticket: "CHG-40"}, Meta{Actor: "bob", Ticket: "CHG-40"}

	_, err := a.PushPolicy(ctx, weak, 0, alice)
	if !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), "privileged_key_approval turned off") || !strings.Contains(err.Error(), "approvals request --policy") {
		t.Fatalf("push turning privileged_key_approval off without an approval: %v; want ErrNotApproved naming the change and how to request one", err)
	}

	// A grant for another document does not admit this one.
	forOther, err := a.RequestApproval(ctx, ApprovalRequest{Policy: other}, alice)
	if err != nil {
		t.Fatalf("RequestApproval for the other document: %v", err)
	}
	if _, err := a.GrantPolicyApproval(ctx, forOther.ID, other, "bob", "ok", bob); err != nil {
		t.Fatalf("GrantApproval: %v", err)
	}
	if _, err := a.PushPolicy(ctx, weak, 0, withApproval(alice, forOther.ID)); !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), "granted for another route") {
		t.Errorf("push with a grant for another document: %v; want ErrNotApproved", err)
	}

	// The requester cannot grant it herself.
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Policy: weak}, alice)
	if err != nil {
		t.Fatalf("RequestApproval: %v", err)
	}
	if _, err := a.GrantPolicyApproval(ctx, ap.ID, weak, "alice", "ok", alice); !errors.Is(err, ErrSelfApproval) {
		t.Errorf("alice grants her own request: %v; want ErrSelfApproval", err)
	}
	if _, err := a.PushPolicy(ctx, weak, 0, withApproval(alice, ap.ID)); !errors.Is(err, ErrNotApproved) {
		t.Errorf("push with a pending approval: %v; want ErrNotApproved", err)
	}
	if got := policyDigest(t, a); got != digestOf(strict) {
		t.Fatalf("policy in etcd is %s after refused pushes; want the strict one", got)
	}

	if _, err := a.GrantPolicyApproval(ctx, ap.ID, weak, "bob", "read the diff", bob); err != nil {
		t.Fatalf("GrantApproval by bob: %v", err)
	}
	if _, err := a.PushPolicy(ctx, weak, 0, withApproval(alice, ap.ID)); err != nil {
		t.Fatalf("push with bob's grant for this document: %v", err)
	}
	if got := policyDigest(t, a); got != digestOf(weak) {
		t.Errorf("policy in etcd is %s; want the pushed one", got)
	}

	// Spent: back to strict (a push that weakens nothing needs none),
	// then the same grant does not admit the weak document again.
	if _, err := a.PushPolicy(ctx, strict, 0, alice); err != nil {
		t.Fatalf("push strengthening the policy without an approval: %v", err)
	}
	if _, err := a.PushPolicy(ctx, weak, 0, withApproval(alice, ap.ID)); !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), "used up") {
		t.Errorf("second push on a single-use grant: %v; want ErrNotApproved, used up", err)
	}

	evs, err := a.ListEvents(ctx, ap.Requested.Add(-time.Hour), ap.Requested.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	uses, named, asked := 0, 0, ""
	for _, e := range evs {
		switch {
		case e.Action == etcdsync.ActionApprovalRequest && e.Target == ap.ID:
			asked = e.Details["weakens"]
		case e.Action == etcdsync.ActionApprovalUse && e.Target == ap.ID:
			uses++
		case e.Action == ActionPolicyPush && e.Details["approval"] == ap.ID:
			named++
		}
	}
	if uses != 1 || named != 1 || asked != "lifecycle.privileged_key_approval turned off" {
		t.Errorf("trail: %d approval.use events, %d policy.push naming the approval, request weakens %q; want 1, 1 and what the push turns off", uses, named, asked)
	}
}

// A key written into the document for a client holding a privileged
// scope never went through keys create, so it skipped
// lifecycle.privileged_key_approval: the push now needs an approval, as
// a privileged scope given to a client does. A key of a client without
// one, or a push that changes nothing of the kind, needs none and
// refuses one named in vain.
func TestPushOfAPrivilegedKeyNeedsApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	strict := strictPolicy(t)
	push(t, a, strict)
	alice := Meta{Actor: "alice", Reason: "r", Ticket: "CHG-41"}

	withKey := edit(t, strict, "keys:\n", adminKey)
	if _, err := a.PushPolicy(ctx, withKey, 0, alice); !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), `key "acmeadm9"`) {
		t.Errorf("push of a key for acme-admin in the document: %v; want ErrNotApproved naming the key", err)
	}
	granted := edit(t, strict, "scopes: [read:reports]\n", "scopes: [read:reports, export:data]\n")
	if _, err := a.PushPolicy(ctx, granted, 0, alice); !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), `client "globex-bi" given privileged scope "export:data"`) {
		t.Errorf("push giving globex-bi a privileged scope: %v; want ErrNotApproved naming it", err)
	}
	hrisKey := edit(t, strict, "keys:\n", strings.ReplaceAll(adminKey, "acme-admin", "acme-hris"))
	if _, err := a.PushPolicy(ctx, hrisKey, 0, withApproval(alice, "apr_typo")); !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), `"apr_typo"`) {
		t.Errorf("push of an unprivileged key naming an approval: %v; want refused naming it", err)
	}
	if _, err := a.PushPolicy(ctx, hrisKey, 0, alice); err != nil {
		t.Errorf("push of a key for acme-hris (no privileged scope): %v; want pushed", err)
	}
}

func withApproval(m Meta, id string) Meta {
	m.Approval = id
	return m
}

func policyDigest(t testing.TB, a *Admin) string {
	t.Helper()
	doc, _, err := a.GetPolicy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return digestOf(doc)
}

func digestOf(doc []byte) string {
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:])
}

// pushApproved pushes doc, which weakens the two-person controls, with an
// approval requested by one person and granted by another.
func pushApproved(t testing.TB, a *Admin, doc []byte) int64 {
	t.Helper()
	ctx := context.Background()
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Policy: doc}, Meta{Actor: "carol", Reason: "weaken for the test", Ticket: "T-1"})
	if err != nil {
		t.Fatalf("RequestApproval: %v", err)
	}
	if _, err := a.GrantPolicyApproval(ctx, ap.ID, doc, "dave", "ok", Meta{Actor: "dave"}); err != nil {
		t.Fatalf("GrantApproval: %v", err)
	}
	rev, err := a.PushPolicy(ctx, doc, 0, withApproval(meta, ap.ID))
	if err != nil {
		t.Fatalf("PushPolicy: %v", err)
	}
	return rev
}

// A privileged class's network, auth method and token-age checks, and
// lifecycle.max_key_age, were not weakenings: one operator's plain push
// opened the integration-admin routes to any network and to API keys
// where the class allowed only tokens, or moved a route into a looser
// class, or let every key live ten times longer. Each now needs a second
// person's approval of the document, as turning
// privileged_key_approval off does.
func TestPushLooseningAPrivilegedClassNeedsApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	strict := edit(t, examplePolicy(t), "auth_methods: [api_key, jwt]\n", "auth_methods: [jwt]\n    max_token_age: 1h\n")
	push(t, a, strict)
	alice := Meta{Actor: "alice", Reason: "open the integrations", Ticket: "CHG-50"}
	for _, c := range []struct{ name, old, new, want string }{
		{"any network", "allow_cidrs: [10.0.0.0/8]", "allow_cidrs: [0.0.0.0/0]", `class "integration-admin" (privileged) allow_cidrs widened: 0.0.0.0/0`},
		{"api keys", "auth_methods: [jwt]", "auth_methods: [jwt, api_key]", `auth_methods widened from [jwt] to [jwt, api_key]`},
		{"old tokens", "max_token_age: 1h\n", "", `max_token_age lengthened from 1h0m0s to none`},
		{"route to a looser class", "{method: POST, path: /v1/integrations, class: integration-admin", "{method: POST, path: /v1/integrations, class: privileged",
			`route "POST /v1/integrations" of class "integration-admin" (privileged) served by route "POST /v1/integrations" of class "privileged"`},
		{"older keys", "max_key_age: 87600h", "max_key_age: 876000h", "lifecycle.max_key_age lengthened"},
	} {
		loose := edit(t, strict, c.old, c.new)
		if _, err := a.PushPolicy(ctx, loose, 0, alice); !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: plain push: %v; want ErrNotApproved naming %q", c.name, err, c.want)
		}
		if got := policyDigest(t, a); got != digestOf(strict) {
			t.Fatalf("%s: policy in etcd is %s after the refused push; want the strict one", c.name, got)
		}
	}
	loose := edit(t, strict, "allow_cidrs: [10.0.0.0/8]", "allow_cidrs: [0.0.0.0/0]")
	pushApproved(t, a, loose)
	if got := policyDigest(t, a); got != digestOf(loose) {
		t.Errorf("policy in etcd is %s after the approved push; want the loosened one", got)
	}
}

// TestPushEventNamesItsWeakeningRules: the evidence pack judges a push by
// the weakening rules its CLI checked (evidence.weakPush.older), read
// from the policy.push event; without them every push of an older
// release that weakens by a later kind reads "written by hand?".
func TestPushEventNamesItsWeakeningRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, strictPolicy(t))
	evs, err := a.ListEvents(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, ev := range evs {
		if ev.Action == ActionPolicyPush {
			rules = append(rules, ev.Details["weakening_rules"])
		}
	}
	if want := strconv.Itoa(policy.WeakeningRules); len(rules) != 1 || rules[0] != want {
		t.Errorf("policy.push events' weakening_rules %q; want one naming %s", rules, want)
	}
}

// The two-push trick: one push removes a privileged route (a route gone
// weakens nothing: its requests are refused), the next puts it back in
// the standard class without its privileged scope. Compared with the
// policy in force alone, the second push weakened nothing and went
// through on one operator's word; it is compared with the route as it
// last was in the policy history now, and needs an approval.
func TestPushPuttingBackARemovedRouteWithLessNeedsApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	const priv = "  - {method: PUT, path: /v1/admin/settings, class: privileged, scopes: [admin:settings]}\n"
	full := examplePolicy(t)
	push(t, a, full)
	push(t, a, edit(t, full, priv, ""))
	back := edit(t, full, priv, "  - {method: PUT, path: /v1/admin/settings, class: standard, scopes: [read:users]}\n")
	_, err := a.PushPolicy(ctx, back, 0, Meta{Actor: "alice", Reason: "put it back", Ticket: "CHG-41"})
	if !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), "removed by an earlier push") {
		t.Fatalf("push putting the route back with less: %v; want ErrNotApproved naming the route removed by an earlier push", err)
	}
	// Put back as it was, it is a plain push.
	if _, err := a.PushPolicy(ctx, full, 0, Meta{Actor: "alice", Reason: "put it back", Ticket: "CHG-41"}); err != nil {
		t.Errorf("push putting the route back as it was: %v", err)
	}
}

// The two-push trick through a widened route (read95): one push removes
// a privileged route, the next widens a route still in force to a
// template that serves its requests too (GET /v1/users/{id} and
// /v1/reports/{id} made GET /v1/{section}/{id}, their scopes kept). The
// history was read only for a route of the push serving no request of
// the policy in force, and the removed GET /v1/admin/audit went to the
// standard class and read:users on one operator's word.
func TestPushWideningOverARemovedRouteNeedsApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	const audit = "  - {method: GET, path: /v1/admin/audit, class: privileged, scopes: [admin:settings]}\n"
	const users = `  - {method: GET, path: "/v1/users/{id}", class: standard, scopes: [read:users]}` + "\n"
	const reports = `  - {method: GET, path: "/v1/reports/{id}", class: standard, scopes: [read:reports]}` + "\n"
	full := examplePolicy(t)
	push(t, a, edit(t, full, users, users+audit))
	push(t, a, full)
	wide := edit(t, edit(t, full, reports, ""), users, `  - {method: GET, path: "/v1/{section}/{id}", class: standard, scopes: [read:users, read:reports]}`+"\n")
	_, err := a.PushPolicy(ctx, wide, 0, Meta{Actor: "alice", Reason: "one route for both", Ticket: "CHG-42"})
	if !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), `serves the requests of route "GET /v1/admin/audit", removed by an earlier push`) {
		t.Fatalf("push widening a route over the removed GET /v1/admin/audit: %v; want ErrNotApproved naming it", err)
	}
}
