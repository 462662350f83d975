package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// startEtcd starts a real etcd server in process for one test.
func startEtcd(t *testing.T) *devetcd.Server {
	t.Helper()
	e, err := devetcd.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// etcdRunner runs etcd subcommands in process against one etcd and prefix.
type etcdRunner struct {
	t      *testing.T
	common []string
}

func (r etcdRunner) run(want int, args ...string) string {
	r.t.Helper()
	var out, errOut bytes.Buffer
	cmd, ok := lookupEtcd(args[0] + " " + args[1])
	if !ok {
		r.t.Fatalf("no command %q", args[:2])
	}
	all := append(append([]string{}, args[2:]...), r.common...)
	if cmd.change {
		all = append(all, "--actor", "alice", "--ticket", "CHG-9")
	}
	if got := cmd.main(all, &out, &errOut); got != want {
		r.t.Fatalf("portcullis %s = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, want, &out, &errOut)
	}
	return out.String()
}

func (r etcdRunner) events(t *testing.T, args ...string) []eventRow {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := eventsList(append(append(args, r.common...), "--format", "json"), &out, &errOut, time.Now()); code != 0 {
		t.Fatalf("events list %q = exit %d: %s", args, code, &errOut)
	}
	var rows []eventRow
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("events list %q printed %q: %v", args, out.String(), err)
	}
	return rows
}

// keys show on a rotated key names its successor; clients list shows who
// is suspended; events list filters the lifecycle events, from etcd and
// from the collector's trail (issue 13, item 12).
func TestInspectKeysClientsEvents(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	r := etcdRunner{t: t, common: []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/inspect"}}
	r.run(0, "policy", "push", examplePolicy, "--reason", "first")

	var created, rotated struct {
		Record policy.KeySpec `json:"record"`
	}
	json.Unmarshal([]byte(r.run(0, "keys", "create", "--client", "globex-bi", "--ttl", "90d", "--json")), &created)
	json.Unmarshal([]byte(r.run(0, "keys", "rotate", created.Record.ID, "--overlap", "24h", "--json")), &rotated)
	old, next := created.Record.ID, rotated.Record.ID
	if old == "" || next == "" || old == next {
		t.Fatalf("create/rotate gave ids %q and %q", old, next)
	}
	if out := r.run(0, "keys", "show", old); !strings.Contains(out, "replaced by:  "+next) {
		t.Errorf("keys show %s = %q, want it to name its successor %s", old, out, next)
	}
	var shown etcdadmin.KeyInfo
	json.Unmarshal([]byte(r.run(0, "keys", "show", old, "--json")), &shown)
	if shown.Successor != next {
		t.Errorf("keys show --json successor = %q, want %q", shown.Successor, next)
	}
	if out := r.run(0, "keys", "show", next); strings.Contains(out, "replaced by") {
		t.Errorf("keys show of the new key = %q, names a successor", out)
	}

	r.run(0, "clients", "suspend", "acme-hris", "--for", "1h", "--reason", "abuse")
	out := r.run(0, "clients", "list")
	for _, want := range []string{"acme-hris", "suspended until ", "by alice (abuse)", "globex-bi", "active"} {
		if !strings.Contains(out, want) {
			t.Errorf("clients list lacks %q:\n%s", want, out)
		}
	}
	var clients []etcdadmin.ClientInfo
	json.Unmarshal([]byte(r.run(0, "clients", "list", "--json")), &clients)
	states := map[string]bool{}
	for _, c := range clients {
		states[c.ID] = c.Suspension != nil
	}
	if len(clients) != 3 || !states["acme-hris"] || states["globex-bi"] || states["acme-admin"] {
		t.Errorf("clients list --json suspended = %v, want only acme-hris of 3", states)
	}

	if rows := r.events(t, "--action", "key.rotate"); len(rows) != 1 || rows[0].Target != old || rows[0].Details["new_key"] != next || rows[0].Actor != "alice" {
		t.Errorf("events --action key.rotate = %+v", rows)
	}
	if rows := r.events(t, "--target", "acme-hris"); len(rows) != 1 || rows[0].Action != etcdadmin.ActionClientSuspend || rows[0].Reason != "abuse" {
		t.Errorf("events --target acme-hris = %+v", rows)
	}
	var actions []string
	for _, ev := range r.events(t, "--since", "1h", "--actor", "alice") {
		actions = append(actions, ev.Action)
	}
	// key.create and key.rotate share a second; the order is still theirs.
	if got, want := strings.Join(actions, " "), "policy.push key.create key.rotate client.suspend"; got != want {
		t.Errorf("events --since 1h --actor alice = %s, want %s", got, want)
	}
	if rows := r.events(t, "--actor", "bob"); len(rows) != 0 {
		t.Errorf("events --actor bob = %+v, want none", rows)
	}
	if rows := r.events(t, "--since", "2099-01-01"); len(rows) != 0 {
		t.Errorf("events --since 2099-01-01 = %+v, want none", rows)
	}

	// The same events, stored in the collector's trail as the collector
	// stores them, listed from there.
	trail := filepath.Join(t.TempDir(), "audit")
	storeEvents(t, trail, e, "/inspect")
	if rows := r.events(t, "--data", trail, "--action", "key.rotate"); len(rows) != 1 || rows[0].Target != old || rows[0].Details["new_key"] != next {
		t.Errorf("events --data --action key.rotate = %+v", rows)
	}
	var tbl, errOut bytes.Buffer
	if code := eventsList([]string{"--data", trail}, &tbl, &errOut, time.Now()); code != 0 ||
		!strings.HasPrefix(tbl.String(), "TIME") || strings.Count(tbl.String(), "\n") != 5 || !strings.Contains(tbl.String(), "client.suspend") {
		t.Errorf("events list --data (table) = exit %d:\n%s%s", code, &tbl, &errOut)
	}
	// No event matches: a JSON array, empty, from etcd and from the trail
	// alike (it was null, which a consumer iterating it fails on).
	for _, src := range [][]string{r.common, {"--data", trail}} {
		var js bytes.Buffer
		if code := eventsList(append([]string{"--actor", "nobody", "--format", "json"}, src...), &js, &errOut, time.Now()); code != 0 || strings.TrimSpace(js.String()) != "[]" {
			t.Errorf("events list %q --actor nobody --format json = exit %d, %q, want []", src, code, js.String())
		}
	}
	if code := eventsList([]string{"--data", filepath.Join(t.TempDir(), "nope")}, &tbl, &errOut, time.Now()); code != 1 {
		t.Errorf("events list --data on a missing directory = exit %d, want 1", code)
	}
}

// storeEvents writes the lifecycle events under prefix into a new audit
// store in dir, as the collector does.
func storeEvents(t *testing.T, dir string, e *devetcd.Server, prefix string) {
	t.Helper()
	store := auditStore(t, dir)
	defer store.Close()
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	evs, err := etcdadmin.New(cli, prefix).ListEvents(context.Background(), time.Time{}, time.Time{})
	if err != nil || len(evs) == 0 {
		t.Fatalf("ListEvents = %d events, %v", len(evs), err)
	}
	stored, err := collector.EtcdEvents(evs)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.AppendEvents(stored); err != nil {
		t.Fatal(err)
	}
}

// members list shows every live sidecar (a real Syncer) with its applied
// revision and policy digest, in the digest format of policy history, and
// says when a sidecar does not enforce the pushed document.
func TestMembersList(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	const prefix = "/members"
	r := etcdRunner{t: t, common: []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", prefix}}
	r.run(0, "policy", "push", examplePolicy, "--reason", "first")

	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	syncer := etcdsync.NewSyncer(cli, &policy.Store{}, etcdsync.SyncConfig{Prefix: prefix, Pod: "pod-a", Logger: zerolog.Nop()})
	done := make(chan struct{})
	go func() { defer close(done); syncer.Run(ctx) }()
	defer func() { cancel(); <-done }()

	fleet := func() etcdadmin.Fleet {
		var f etcdadmin.Fleet
		if err := json.Unmarshal([]byte(r.run(0, "members", "list", "--json")), &f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	var f etcdadmin.Fleet
	poll(t, "pod-a in members list with its digest", func() bool { f = fleet(); return len(f.Members) == 1 && f.Members[0].PolicyDigest != "" })
	var hist []etcdadmin.HistoryEntry
	json.Unmarshal([]byte(r.run(0, "policy", "history", "--json")), &hist)
	m := f.Members[0]
	if len(hist) != 1 || m.Pod != "pod-a" || m.PolicyDigest != hist[0].Digest || f.PolicyDigest != hist[0].Digest || !m.Current {
		t.Fatalf("members list = %+v, history digest %v; want pod-a current with the history's digest", f, hist)
	}
	out := r.run(0, "members", "list")
	if !strings.Contains(out, "pod-a") || !strings.Contains(out, hist[0].Digest[:12]) || !strings.Contains(out, "yes") {
		t.Errorf("members list = %q, want pod-a, digest %s and yes", out, hist[0].Digest[:12])
	}

	// A document written to etcd directly that does not compile is refused
	// by the sidecar, which keeps enforcing the old one: members list says so.
	broken := "version: 1\ncolour: blue\n"
	if _, err := cli.Put(ctx, prefix+"/policy", broken); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(broken))
	poll(t, "the refused document noticed", func() bool { return syncer.LastError() != "" })
	f = fleet()
	if f.PolicyDigest != hex.EncodeToString(sum[:]) || len(f.Members) != 1 || f.Members[0].Current || f.Members[0].PolicyDigest != hist[0].Digest {
		t.Errorf("members list after a refused document = %+v, want pod-a not current, still on %s", f, hist[0].Digest)
	}
	if out := r.run(0, "members", "list"); !strings.Contains(out, "NO") {
		t.Errorf("members list = %q, want NO for pod-a", out)
	}
}

// The actor falls back to the OS account, the etcd user is recorded beside
// it, the password comes from PORTCULLIS_ETCD_PASSWORD and the endpoints
// from PORTCULLIS_ETCD; the old flag spellings still work, with a warning.
func TestEtcdAuthAndActor(t *testing.T) { // not parallel: it sets the environment
	e := startEtcd(t)
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, step := range []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "s3cret-pw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	cli.Close()
	t.Setenv("PORTCULLIS_ETCD", strings.Join(e.Endpoints(), ","))
	t.Setenv("PORTCULLIS_ETCD_PASSWORD", "s3cret-pw")
	run := func(want int, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if got := etcdSub(t, args[0]+" "+args[1]).main(args[2:], &out, &errOut); got != want {
			t.Fatalf("portcullis %s = exit %d, want %d\n%s%s", strings.Join(args, " "), got, want, &out, &errOut)
		}
		return out.String(), errOut.String()
	}
	run(0, "policy", "push", examplePolicy, "--etcd-user", "root", "--reason", "first")
	if _, stderr := run(0, "clients", "suspend", "acme-hris", "--for", "1h", "--reason", "abuse", "--user", "root"); !strings.Contains(stderr, "--user is deprecated; use --etcd-user") {
		t.Errorf("--user gave stderr %q, want a deprecation warning", stderr)
	}
	if _, stderr := run(1, "keys", "list"); !strings.Contains(stderr, "give --etcd-user and set PORTCULLIS_ETCD_PASSWORD") { // no user: etcd refuses
		t.Errorf("keys list without a user: stderr %q, want the fix named", stderr)
	}
	t.Setenv("PORTCULLIS_ETCD_PASSWORD", "wrong")
	if _, stderr := run(1, "keys", "list", "--etcd-user", "root"); !strings.Contains(stderr, "check --etcd-user and PORTCULLIS_ETCD_PASSWORD") || strings.Contains(stderr, "wrong") {
		t.Errorf("keys list with a wrong password: stderr %q, want the fix named (and no password)", stderr)
	}
	t.Setenv("PORTCULLIS_ETCD_PASSWORD", "s3cret-pw")

	var out, errOut bytes.Buffer
	if code := eventsList([]string{"--etcd-user", "root", "--format", "json"}, &out, &errOut, time.Now()); code != 0 {
		t.Fatalf("events list = exit %d: %s", code, &errOut)
	}
	var rows []eventRow
	json.Unmarshal(out.Bytes(), &rows)
	if len(rows) != 2 {
		t.Fatalf("events = %+v, want push and suspend", rows)
	}
	account := osAccount()
	if account == "" {
		t.Skip("the OS account has no name here")
	}
	for _, ev := range rows { // from etcd, one read proves no past write's authentication: claimed (etcdadmin.ListEvents)
		if ev.Actor != account || ev.Details[etcdadmin.DetailClaimedEtcdUser] != "root" || !strings.HasPrefix(ev.Unverified, etcdadmin.FlagAuthOff) {
			t.Errorf("event %s: actor %q, claimed etcd user %q, unverified %q; want %q, root claimed, flagged %s", ev.Action, ev.Actor, ev.Details[etcdadmin.DetailClaimedEtcdUser], ev.Unverified, account, etcdadmin.FlagAuthOff)
		}
	}
	out.Reset()
	eventsList([]string{"--etcd-user", "root"}, &out, &errOut, time.Now())
	if !strings.Contains(out.String(), account+" (claims etcd user root") {
		t.Errorf("events list table = %q, want the actor with the etcd user", out.String())
	}
	if strings.Contains(out.String()+errOut.String(), "s3cret-pw") {
		t.Error("the password was printed")
	}
}

// events list --action with a name no event has (a typo: key.rotated)
// listed nothing and exited 0, as if no key had been rotated. An unknown
// action is now a usage error naming the known ones.
func TestEventsListRefusesUnknownAction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := portcullis(t, "", nil, "events", "list", "--data", dir, "--action", "key.rotated")
	if r.code != 2 || !strings.Contains(r.stderr, "--action key.rotated: unknown action") || !strings.Contains(r.stderr, "key.rotate,") ||
		!strings.Contains(r.stderr, "alert.open") || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
		t.Errorf("events list --action key.rotated = exit %d, stdout %q, stderr %q; want exit 2 and one line naming the known actions", r.code, r.stdout, r.stderr)
	}
}

// approvals request --route naming a route the policy does not have (a
// typo, a path from another service) said the route "requires no approval
// in the policy", as if it were there and open. It now says the route is
// not in the policy, naming it and the routes that need an approval; a
// route that is there without an approval still says so.
func TestApprovalsRequestNamesRouteNotInPolicy(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	common := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/apr-route", "--actor", "alice", "--reason", "r"}
	if r := portcullis(t, "", nil, append([]string{"policy", "push", examplePolicy}, common...)...); r.code != 0 {
		t.Fatalf("policy push = exit %d: %s", r.code, r.stderr)
	}
	for route, want := range map[string]string{
		"POST /v1/exprts/full": `route "POST /v1/exprts/full" is not in the policy; routes that need an approval: "POST /v1/exports/full", "keys create"`,
		"POST /v1/exports":     `route "POST /v1/exports" requires no approval in the policy; routes that do: "POST /v1/exports/full", "keys create"`,
	} {
		r := portcullis(t, "", nil, append([]string{"approvals", "request", "--client", "acme-admin", "--route", route}, common...)...)
		if r.code != 1 || !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("approvals request --route %q = exit %d, stderr %q; want exit 1 and %q", route, r.code, r.stderr, want)
		}
	}
}

// approvals list showed a pending approval's uses as 1/1 and show as "1
// of 1" (the stored count that makes binaries before the use counter see
// it used up), so a request nobody had granted read as spent. A pending
// approval now shows 0 uses.
func TestPendingApprovalShowsNoUses(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	common := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/apr-uses"}
	change := append([]string{"--actor", "alice", "--reason", "r"}, common...)
	if r := portcullis(t, "", nil, append([]string{"policy", "push", examplePolicy}, change...)...); r.code != 0 {
		t.Fatalf("policy push = exit %d: %s", r.code, r.stderr)
	}
	r := portcullis(t, "", nil, append([]string{"approvals", "request", "--client", "acme-admin", "--route", "POST /v1/exports/full", "--json"}, change...)...)
	var ap struct{ ID string }
	if err := json.Unmarshal([]byte(r.stdout), &ap); r.code != 0 || err != nil || ap.ID == "" {
		t.Fatalf("approvals request = exit %d, %v: %s%s", r.code, err, r.stdout, r.stderr)
	}
	if r := portcullis(t, "", nil, append([]string{"approvals", "list"}, common...)...); r.code != 0 || !strings.Contains(r.stdout, "pending  acme-admin  POST /v1/exports/full  0/1") {
		t.Errorf("approvals list = exit %d, stdout %q, stderr %q; want the pending approval with 0/1 uses", r.code, r.stdout, r.stderr)
	}
	if r := portcullis(t, "", nil, append([]string{"approvals", "show", ap.ID}, common...)...); r.code != 0 || !strings.Contains(r.stdout, "uses:       0 of 1") {
		t.Errorf("approvals show = exit %d, stdout %q, stderr %q; want uses 0 of 1", r.code, r.stdout, r.stderr)
	}
}
