package etcdadmin

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// lifecyclePolicy is the example policy with its lifecycle section
// replaced by a 30-day max_key_age that requires tickets.
func lifecyclePolicy(t testing.TB) []byte {
	t.Helper()
	doc := examplePolicy(t)
	i := bytes.Index(doc, []byte("lifecycle:\n"))
	if i < 0 {
		t.Fatal("the example policy has no lifecycle section")
	}
	j := bytes.Index(doc[i:], []byte("\n\n"))
	repl := "lifecycle:\n  max_key_age: 720h\n  rotation_warning: 168h\n  require_ticket: true"
	return append(append(append([]byte(nil), doc[:i]...), repl...), doc[i+j:]...)
}

// require_ticket refuses every change that writes a lifecycle event
// without a ticket, before anything is written: key, client, policy,
// alert and evidence changes.
func TestRequireTicket(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	a := New(cli, newPrefix(t))
	push(t, a, lifecyclePolicy(t))
	ctx := context.Background()
	_, spec, err := a.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	bare := Meta{Actor: "tester", Reason: "no ticket"}
	checks := map[string]error{}
	_, _, checks["create"] = a.CreateKey(ctx, "acme-hris", 0, bare)
	_, _, checks["rotate"] = a.RotateKey(ctx, spec.ID, time.Hour, bare)
	_, checks["revoke"] = a.RevokeKey(ctx, spec.ID, bare)
	_, checks["suspend"] = a.Suspend(ctx, "acme-hris", time.Hour, bare)
	if _, err := a.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	checks["resume"] = a.Resume(ctx, "acme-hris", bare)
	_, checks["policy push"] = a.PushPolicy(ctx, examplePolicy(t), 0, bare)
	_, checks["alert event"] = a.RecordAlertEvent(ctx, "alert.ack", "alert-1", bare, nil)
	_, checks["evidence event"] = a.RecordEvidenceEvent(ctx, ActionEvidenceApprove, "pack", bare, nil)
	for op, err := range checks {
		if !errors.Is(err, ErrTicketRequired) {
			t.Errorf("%s without a ticket = %v, want ErrTicketRequired", op, err)
		}
	}
	events, err := a.ListEvents(ctx, time.Time{}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if ev.Ticket == "" {
			t.Errorf("event %s %s written without a ticket", ev.Action, ev.Target)
		}
	}
	keys, _ := a.ListKeys(ctx, "acme-hris")
	if n := len(keys); n != 3 { // the document's acmehris1 and revoked1, and spec
		t.Errorf("%d keys of acme-hris, want 3: nothing created without a ticket", n)
	}
}

// keys create takes max_key_age as the default lifetime and refuses a
// longer one; a rotated key's successor is capped at it too.
func TestKeyLifetimeByPolicy(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	a := New(cli, newPrefix(t))
	push(t, a, lifecyclePolicy(t))
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	if _, _, err := a.CreateKey(ctx, "acme-hris", 721*time.Hour, meta); !errors.Is(err, ErrKeyLifetime) {
		t.Errorf("CreateKey(ttl 721h) = %v, want ErrKeyLifetime", err)
	}
	_, spec, err := a.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(720 * time.Hour).Format(time.RFC3339); spec.NotAfter != want || spec.CreatedAt != now.Format(time.RFC3339) {
		t.Errorf("default key: not_after %q created_at %q, want %q and %q", spec.NotAfter, spec.CreatedAt, want, now.Format(time.RFC3339))
	}
	_, short, err := a.CreateKey(ctx, "acme-hris", 24*time.Hour, meta)
	if err != nil || short.NotAfter != now.Add(24*time.Hour).Format(time.RFC3339) {
		t.Errorf("CreateKey(ttl 24h) = %+v, %v; want not_after a day on", short, err)
	}
	now = now.Add(100 * time.Hour)
	_, next, err := a.RotateKey(ctx, spec.ID, time.Hour, meta)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(720 * time.Hour).Format(time.RFC3339); next.NotAfter != want || next.CreatedAt != now.Format(time.RFC3339) {
		t.Errorf("successor: not_after %q created_at %q, want %q and %q", next.NotAfter, next.CreatedAt, want, now.Format(time.RFC3339))
	}
}

// Expiring lists the keys that stop being valid inside the window, with
// their ages against the policy, soonest first.
func TestExpiring(t *testing.T) {
	t.Parallel()
	born := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := &policy.LifecycleSpec{MaxKeyAge: "720h"}
	info := func(id, created, notAfter string, revoked bool) KeyInfo {
		return KeyInfo{KeySpec: policy.KeySpec{ID: id, CreatedAt: created, NotAfter: notAfter, Revoked: revoked}}
	}
	keys := []KeyInfo{
		info("old", born.Format(time.RFC3339), "", false),
		info("young", born.Add(600*time.Hour).Format(time.RFC3339), "", false),
		info("short", born.Add(600*time.Hour).Format(time.RFC3339), born.Add(700*time.Hour).Format(time.RFC3339), false),
		info("revoked", born.Format(time.RFC3339), "", true),
	}
	now := born.Add(690 * time.Hour)
	got := Expiring(keys, l, now, 48*time.Hour)
	if len(got) != 2 || got[0].ID != "short" || got[1].ID != "old" {
		t.Fatalf("Expiring within 48h = %+v, want short then old", got)
	}
	if got[0].ExpiresBy != "not_after" || got[1].ExpiresBy != "max_key_age" || got[1].Age != 690*time.Hour || got[1].MaxAge != 720*time.Hour || got[1].Overdue {
		t.Errorf("ages = %+v", got)
	}
	if got := Expiring(keys, l, born.Add(800*time.Hour), 0); len(got) != 2 || !got[1].Overdue {
		t.Errorf("past the age: %+v, want old overdue", got)
	}
}

// require_ticket covers the approvals too: a request without a ticket is
// refused before anything is written, and a grant or a denial (which must
// work at once, like a revocation) carries the request's ticket when it
// names none, so every approval event has one. Before, approvals request
// wrote an approval.request event without a ticket, and a grant of it
// admitted requests under a policy that requires tickets.
func TestRequireTicketApprovals(t *testing.T) {
	t.Parallel()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, lifecyclePolicy(t))
	ctx := context.Background()
	req := ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute}
	if _, err := a.RequestApproval(ctx, req, Meta{Actor: "alice", Reason: "no ticket"}); !errors.Is(err, ErrTicketRequired) {
		t.Errorf("approvals request without a ticket = %v, want ErrTicketRequired", err)
	}
	for _, decide := range []string{"grant", "deny"} {
		ap, err := a.RequestApproval(ctx, req, Meta{Actor: "alice", Reason: "export", Ticket: "CHG-30"})
		if err != nil {
			t.Fatal(err)
		}
		if decide == "grant" {
			_, err = a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob"})
		} else {
			_, err = a.DenyApproval(ctx, ap.ID, "", "", Meta{Actor: "bob", Reason: "not now"})
		}
		if err != nil {
			t.Errorf("%s without a ticket of its own = %v, want nil", decide, err)
		}
	}
	events, err := a.ListEvents(ctx, time.Time{}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if ev.Ticket == "" {
			t.Errorf("event %s %s written without a ticket", ev.Action, ev.Target)
		}
	}
}
