package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.yaml.in/yaml/v3"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// grantLine is one `ctl role grant-permission ROLE PERM KEY [--prefix]`
// of the etcd roles Job's script.
var grantLine = regexp.MustCompile(`(?m)^\s*ctl role grant-permission (\S+) (read|write|readwrite) (\S+)( --prefix)?\s*$`)

// roleGrant is one permission of a role: its type, key and range end
// (that of key's prefix, or "" for key alone).
type roleGrant [3]string

// testOperators are the people the roles Job's OPERATORS names in the
// tests: a per-person role each (roleGrants).
var testOperators = []string{"ops-alice", "ops-bob"}

// personLoop is the roles Job's loop over the users given a person's
// role: the names before $OPERATORS are the script's own (the shared
// portcullis-operator).
var personLoop = regexp.MustCompile(`(?m)^\s*for u in ((?:\S+ )*)\$OPERATORS; do\s*$`)

// roleGrants reads the permissions deploy/kubernetes/etcd-roles-job.yaml
// grants, by role, with the script's $P (the prefix) filled in, and its
// per-person grants ("$u", for each name of OPERATORS) made for each of
// testOperators and for the script's own names its loop gives them
// (portcullis-operator).
func roleGrants(t *testing.T, prefix string) map[string][]roleGrant {
	t.Helper()
	script := rolesScript(t)
	if !strings.Contains(script, "P="+prefix+"\n") || !strings.Contains(script, "auth enable") {
		t.Fatalf("the roles script does not set P=%s or enable auth:\n%s", prefix, script)
	}
	grants := map[string][]roleGrant{}
	for _, m := range grantLine.FindAllStringSubmatch(script, -1) {
		for _, rk := range scriptRoles(script, m[1], strings.ReplaceAll(m[3], "$P", prefix)) {
			end := ""
			if m[4] != "" {
				end = clientv3.GetPrefixRangeEnd(rk[1])
			}
			grants[rk[0]] = append(grants[rk[0]], roleGrant{m[2], rk[1], end})
		}
	}
	return grants
}

// scriptRoles returns the roles and keys a line of the roles script
// naming role and key means: role alone, or for "$u" each user its
// person loop names (testOperators for $OPERATORS), with key made that
// user's.
func scriptRoles(script, role, key string) [][2]string {
	if role != `"$u"` {
		return [][2]string{{role, key}}
	}
	people := slices.Clone(testOperators)
	for _, m := range personLoop.FindAllStringSubmatch(script, -1) {
		people = append(people, strings.Fields(m[1])...)
	}
	slices.Sort(people)
	var out [][2]string
	for _, u := range slices.Compact(people) {
		out = append(out, [2]string{u, strings.ReplaceAll(key, `"$u"`, u)})
	}
	return out
}

// rolesScript returns the shell script of the roles Job,
// deploy/kubernetes/etcd-roles-job.yaml.
func rolesScript(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/kubernetes/etcd-roles-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var job struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct{ Args []string }
				}
			}
		}
	}
	if err := yaml.Unmarshal(b, &job); err != nil {
		t.Fatal(err)
	}
	return job.Spec.Template.Spec.Containers[0].Args[0]
}

func dialAs(t *testing.T, endpoints []string, user string) *clientv3.Client {
	t.Helper()
	// New authenticates within the dial timeout, and etcd checks the
	// password with bcrypt (cost 10): under -race on a loaded machine that
	// took over 10 s ("context deadline exceeded" in
	// TestEtcdRolesApprovalUse while five test suites ran).
	cfg := clientv3.Config{Endpoints: endpoints, DialTimeout: time.Minute}
	if user != "" {
		cfg.Username, cfg.Password = user, "pw-"+user
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// TestEtcdRolesJob applies the roles the kustomize base's Job grants to a
// real etcd with authentication on (passwords stand in for the client
// certificates' common names, which etcd maps to the same users) and runs
// each party's real code as its user: the operator pushes a policy and
// creates a key, a sidecar syncs and registers its member record, the
// collector suspends a client and publishes under audit/; a sidecar
// cannot change the policy, keys or revocations, or read another prefix,
// and the collector cannot change the policy.
func TestEtcdRolesJob(t *testing.T) {
	t.Parallel()
	const prefix = "/portcullis/default"
	grants := roleGrants(t, prefix)
	for _, r := range []string{"portcullis-sidecar", "portcullis-collector", "portcullis-operator"} {
		if len(grants[r]) == 0 {
			t.Fatalf("the Job grants %s nothing", r)
		}
	}
	e := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	setupAuth(t, ctx, dialAs(t, e.Endpoints(), ""), grants)

	op := etcdadmin.New(dialAs(t, e.Endpoints(), "portcullis-operator"), prefix)
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	meta := etcdadmin.Meta{Actor: "test", Reason: "roles", Ticket: "T-1", EtcdUser: "portcullis-operator"}
	if _, err := op.PushPolicy(ctx, doc, 0, meta); err != nil {
		t.Fatalf("operator policy push: %v", err)
	}
	if _, _, err := op.CreateKey(ctx, "globex-bi", time.Hour, meta); err != nil {
		t.Fatalf("operator keys create: %v", err)
	}

	sc := dialAs(t, e.Endpoints(), "portcullis-sidecar")
	store := &policy.Store{}
	syncer := etcdsync.NewSyncer(sc, store, etcdsync.SyncConfig{Prefix: prefix, Pod: "hr-service-1", Logger: zerolog.Nop()})
	go func() { _ = syncer.Run(ctx) }()
	waitFor(t, ctx, "the sidecar to sync and register", func() bool {
		members, err := op.Members(ctx)
		return err == nil && len(members) == 1 && syncer.Ready() && syncer.Current()
	})
	for _, key := range []string{prefix + "/policy", prefix + "/keys/forged", prefix + "/revocations/x", prefix + "/suspensions/acme-hris"} {
		if _, err := sc.Put(ctx, key, "x"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("sidecar put %s: %v, want permission denied", key, err)
		}
	}
	if _, err := sc.Get(ctx, "/portcullis/other/policy"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Errorf("sidecar get of another prefix: %v, want permission denied", err)
	}

	colCli := dialAs(t, e.Endpoints(), "portcullis-collector")
	if _, err := etcdadmin.New(colCli, prefix).Suspend(ctx, "acme-hris", time.Minute, etcdadmin.Meta{Actor: "collector", Reason: "roles", Ticket: "T-1", EtcdUser: "portcullis-collector"}); err != nil {
		t.Errorf("collector suspending a client (detection action): %v", err)
	}
	if _, err := colCli.Put(ctx, prefix+"/audit/head", "{}"); err != nil {
		t.Errorf("collector publishing its head: %v", err)
	}
	if _, err := colCli.Put(ctx, prefix+"/policy", "x"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Errorf("collector put policy: %v, want permission denied", err)
	}
}

// setupAuth makes the users and roles as the Job does, then turns
// authentication on.
// rolesRig is an etcd with the Job's roles and users and the example
// policy pushed as the operator: what the TestEtcdRoles tests start from.
type rolesRig struct {
	e     *devetcd.Server
	ctx   context.Context
	opCli *clientv3.Client
	op    *etcdadmin.Admin
	meta  etcdadmin.Meta
}

func newRolesRig(t *testing.T, prefix string) *rolesRig {
	t.Helper()
	e := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	setupAuth(t, ctx, dialAs(t, e.Endpoints(), ""), roleGrants(t, prefix))
	r := &rolesRig{e: e, ctx: ctx, opCli: dialAs(t, e.Endpoints(), "portcullis-operator"),
		meta: etcdadmin.Meta{Actor: "test", Reason: "roles", Ticket: "T-1", EtcdUser: "portcullis-operator"}}
	r.op = etcdadmin.New(r.opCli, prefix)
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.op.PushPolicy(ctx, doc, 0, r.meta); err != nil {
		t.Fatalf("operator policy push: %v", err)
	}
	return r
}

func setupAuth(t *testing.T, ctx context.Context, root *clientv3.Client, grants map[string][]roleGrant) {
	t.Helper()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(root.UserAdd(ctx, "root", "pw-root"))
	must(root.UserGrantRole(ctx, "root", "root"))
	perms := map[string]int32{"read": int32(clientv3.PermRead), "write": int32(clientv3.PermWrite), "readwrite": int32(clientv3.PermReadWrite)}
	for role, gs := range grants {
		must(root.RoleAdd(ctx, role))
		must(root.UserAdd(ctx, role, "pw-"+role))
		must(root.UserGrantRole(ctx, role, role))
		for _, g := range gs {
			must(root.RoleGrantPermission(ctx, role, g[1], g[2], clientv3.PermissionType(perms[g[0]])))
		}
	}
	must(root.AuthEnable(ctx))
}

// personAdmin is an Admin connected as the etcd user of a person of
// testOperators, whose role writes her events only under
// events-by/<user>/ (pass EtcdUser: user in its Meta).
func personAdmin(t *testing.T, endpoints []string, prefix, user string) *etcdadmin.Admin {
	t.Helper()
	return etcdadmin.New(dialAs(t, endpoints, user), prefix)
}

func waitFor(t *testing.T, ctx context.Context, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// With the roles of the Job, a sidecar publishes its demand record (global
// limits, issue 17) under demand/. Before, the portcullis-sidecar role
// could write only members/: every publish was refused, each sidecar saw
// the others as members without demand and took floor/N + (1-floor) of
// every global limit, and the deployment admitted about N times the
// limit.
func TestEtcdRolesSidecarPublishesDemand(t *testing.T) {
	t.Parallel()
	const prefix = "/portcullis/default"
	e := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	setupAuth(t, ctx, dialAs(t, e.Endpoints(), ""), roleGrants(t, prefix))
	op := dialAs(t, e.Endpoints(), "portcullis-operator")
	sc := dialAs(t, e.Endpoints(), "portcullis-sidecar")
	k := etcdsync.NewLayout(prefix)
	lease, err := sc.Grant(ctx, 600) // outlives the test on a loaded machine
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Put(ctx, k.Member("hr-service-1"), `{"pod":"hr-service-1"}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatalf("sidecar member record: %v", err)
	}
	var count atomic.Uint64
	sh := etcdsync.NewSharer(sc, etcdsync.ShareConfig{Prefix: prefix, Pod: "hr-service-1", Interval: 100 * time.Millisecond,
		Logger: zerolog.Nop(), Apply: func(etcdsync.Shares) {},
		Demand: func(fn func(bool, string, uint64)) { fn(true, "acme", count.Add(50)) },
	})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = sh.Run(rctx) }()
	defer func() { stop(); <-done }()
	waitFor(t, ctx, "the sidecar's demand record", func() bool {
		resp, err := op.Get(ctx, k.DemandDir()+"hr-service-1")
		return err == nil && len(resp.Kvs) == 1
	})
	// The role still writes nothing else.
	if _, err := sc.Put(ctx, prefix+"/policy", "x"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Errorf("sidecar put policy: %v, want permission denied", err)
	}
}

// With the roles of the Job and authentication on, an approval works end
// to end (issue 16's last gap): an operator requests and grants it, two
// sidecars, each through its own Ledger as the sidecar user, race to use
// the single-use grant and exactly one request is admitted, the use key
// sits on the grant's uses lease, and the collector, as its user, records
// the approval.use event in its trail with the request id and sidecar.
// The sidecar user still cannot write approvals/ or events/. Before, a
// use rewrote approvals/<id> and wrote under events/, which the sidecar
// role may not: every use was refused.
func TestEtcdRolesApprovalUse(t *testing.T) {
	t.Parallel()
	const prefix = "/portcullis/default"
	const route = "POST /v1/exports/full"
	r := newRolesRig(t, prefix)
	e, ctx, opCli, op := r.e, r.ctx, r.opCli, r.op
	alice, bob := personAdmin(t, e.Endpoints(), prefix, "ops-alice"), personAdmin(t, e.Endpoints(), prefix, "ops-bob")
	ap, err := alice.RequestApproval(ctx, etcdadmin.ApprovalRequest{Client: "acme-admin", Route: route}, etcdadmin.Meta{Actor: "alice", Reason: "quarterly export", Ticket: "CHG-7", EtcdUser: "ops-alice"})
	if err != nil {
		t.Fatalf("operator approvals request: %v", err)
	}
	if ap, err = bob.GrantApproval(ctx, ap.ID, "bob", "checked", etcdadmin.Meta{Actor: "bob", EtcdUser: "ops-bob"}); err != nil {
		t.Fatalf("operator approvals grant: %v", err)
	}

	colAdmin := etcdadmin.New(dialAs(t, e.Endpoints(), "portcullis-collector"), prefix)
	dir := t.TempDir()
	store := auditStore(t, dir)
	defer store.Close()
	stopFollow := followEvents(ctx, colAdmin, store, dir)
	defer stopFollow()

	var ledgers []*etcdsync.Ledger
	for i := range 2 {
		l := etcdsync.NewLedger(dialAs(t, e.Endpoints(), "portcullis-sidecar"), etcdsync.LedgerConfig{Prefix: prefix, Pod: fmt.Sprintf("hr-service-%d", i), Logger: zerolog.Nop()})
		go func() { _ = l.Run(ctx) }()
		ledgers = append(ledgers, l)
	}
	waitFor(t, ctx, "the sidecars' ledgers", func() bool { return ledgers[0].Ready() && ledgers[1].Ready() })
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if ledgers[i%2].Consume([]byte(ap.ID), "acme-admin", route, fmt.Appendf(nil, "req-%d", i), time.Now()) {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 1 {
		t.Fatalf("%d of 8 concurrent uses of a single-use approval admitted as the sidecar user, want 1", n)
	}
	got, err := op.ShowApproval(ctx, ap.ID)
	if err != nil || got.Uses != 1 {
		t.Errorf("approvals show after the use: %d uses, %v; want 1", got.Uses, err)
	}
	// The sidecar's put (WithIgnoreLease, which etcd's auth allows the
	// sidecar role) leaves the counter on the grant's uses lease.
	resp, err := opCli.Get(ctx, etcdsync.NewLayout(prefix).ApprovalCounter(ap.ID))
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Version != 2 || resp.Kvs[0].Lease == 0 || resp.Kvs[0].Lease != ap.UsesLease {
		t.Errorf("use counter of %s: %v %v; want version 2 on the grant's uses lease %d", ap.ID, resp, err, ap.UsesLease)
	}

	waitFor(t, ctx, "the approval.use event in the collector's trail", func() bool {
		found := false
		collector.QueryEvents(dir, time.Time{}, time.Time{}, func(ev *collector.Event) error {
			if ev.Action != etcdsync.ActionApprovalUse || ev.Target != ap.ID {
				return nil
			}
			var d map[string]string
			json.Unmarshal(ev.Details, &d)
			if ev.Unverified != "" || !strings.HasPrefix(d["request_id"], "req-") || !strings.HasPrefix(d["sidecar"], "hr-service-") ||
				d["use"] != "1/1" || d["approver"] != "bob" || d["requester"] != "alice" || ev.Ticket != "CHG-7" || ev.Actor != "" || d[etcdadmin.DetailEtcdUser] != "" {
				t.Errorf("approval.use event %+v details %v; want verified, with request id, sidecar, use 1/1, approver, requester, ticket, no actor or etcd user", ev, d)
			}
			found = true
			return nil
		})
		return found
	})

	sc := dialAs(t, e.Endpoints(), "portcullis-sidecar")
	for _, key := range []string{prefix + "/approvals/" + ap.ID, prefix + "/events/00000000000000000001-forged"} {
		if _, err := sc.Put(ctx, key, "{}"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("sidecar put %s: %v, want permission denied", key, err)
		}
	}
	// Why the uses have a lease of their own: etcd refuses a put on a lease
	// holding a key the writer may not write, such as the grant's record.
	rec, err := opCli.Get(ctx, prefix+"/approvals/"+ap.ID)
	if err != nil || len(rec.Kvs) != 1 || rec.Kvs[0].Lease == 0 {
		t.Fatalf("grant record: %v %v; want it on a lease", rec, err)
	}
	if _, err := sc.Put(ctx, etcdsync.NewLayout(prefix).ApprovalCounter(ap.ID), "{}", clientv3.WithLease(clientv3.LeaseID(rec.Kvs[0].Lease))); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Errorf("sidecar put of the use counter on the grant record's lease: %v, want permission denied", err)
	}

	// The sidecar role may take a hold's lease, put the slot on it, move
	// the slot onto the uses lease when the use is spent (above), and
	// revoke the lease to give a held use back.
	k := etcdsync.NewLayout(prefix)
	slots, err := opCli.Get(ctx, k.ApprovalSlots(ap.ID), clientv3.WithPrefix())
	if err != nil || len(slots.Kvs) != 1 || slots.Kvs[0].Lease != ap.UsesLease {
		t.Errorf("slots of %s after its use: %v %v; want one, on the grant's uses lease %d", ap.ID, slots, err, ap.UsesLease)
	}
	again, err := alice.RequestApproval(ctx, etcdadmin.ApprovalRequest{Client: "acme-admin", Route: route}, etcdadmin.Meta{Actor: "alice", Reason: "again", Ticket: "CHG-8", EtcdUser: "ops-alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = bob.GrantApproval(ctx, again.ID, "bob", "checked", etcdadmin.Meta{Actor: "bob", EtcdUser: "ops-bob"}); err != nil {
		t.Fatal(err)
	}
	h := ledgers[0].Reserve([]byte(again.ID), "acme-admin", route, []byte("req-held"), time.Now())
	if h == nil {
		t.Fatal("reservation as the sidecar user refused")
	}
	h.Release()
	if n, err := opCli.Get(ctx, k.ApprovalSlots(again.ID), clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || n.Count != 0 {
		t.Errorf("slots of %s after the sidecar user gave its hold back: %v %v; want none", again.ID, n, err)
	}
	if !ledgers[1].Consume([]byte(again.ID), "acme-admin", route, []byte("req-after"), time.Now()) {
		t.Error("the use given back by the sidecar user could not be spent")
	}
}
