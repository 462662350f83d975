package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.yaml.in/yaml/v3"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// pushJob is what deploy/kubernetes/policy-job.yaml runs: its arguments
// and the Secret of its etcd client certificate.
type pushJob struct {
	args   []string
	secret string
}

// readPushJob reads the policy push Job of the kustomize base.
func readPushJob(t *testing.T) pushJob {
	t.Helper()
	b, err := os.ReadFile("../../deploy/kubernetes/policy-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var job struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct{ Args []string }
					Volumes    []struct {
						Name   string
						Secret struct {
							SecretName string `yaml:"secretName"`
						} `yaml:"secret"`
					}
				}
			}
		}
	}
	if err := yaml.Unmarshal(b, &job); err != nil {
		t.Fatal(err)
	}
	spec := job.Spec.Template.Spec
	j := pushJob{args: spec.Containers[0].Args}
	for _, v := range spec.Volumes {
		if v.Name == "tls" {
			j.secret = v.Secret.SecretName
		}
	}
	return j
}

// certificateUser returns the common name (the etcd user) of the
// Certificate of deploy/kubernetes/certificates.yaml whose Secret is
// secret, or "".
func certificateUser(t *testing.T, secret string) string {
	t.Helper()
	f, err := os.Open("../../deploy/kubernetes/certificates.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	for {
		var c struct {
			Kind string
			Spec struct {
				SecretName string `yaml:"secretName"`
				CommonName string `yaml:"commonName"`
			}
		}
		err := dec.Decode(&c)
		if errors.Is(err, io.EOF) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.Kind == "Certificate" && c.Spec.SecretName == secret {
			return c.Spec.CommonName
		}
	}
}

// localArgs returns the Job's arguments for an etcd at endpoints, as user
// with a password standing in for the certificate's common name: the
// document is the example policy, the TLS flags are left out.
func (j pushJob) localArgs(endpoints []string, user string) []string {
	args := []string{examplePolicy}
	for _, a := range j.args[2:] {
		switch {
		case strings.HasPrefix(a, "--etcd="):
			a = "--etcd=" + strings.Join(endpoints, ",")
		case strings.HasPrefix(a, "--etcd-cacert="), strings.HasPrefix(a, "--etcd-cert="), strings.HasPrefix(a, "--etcd-key="):
			continue
		case strings.HasPrefix(a, "/"): // the document's path in the Job
			continue
		}
		args = append(args, a)
	}
	return append(args, "--etcd-user", user, "--etcd-password", "pw-"+user)
}

// The policy push Job has an etcd user of its own (its certificate's
// common name), whose role writes only what policy push writes: the
// policy, its history and its event under events-by/<its user>/. The
// Job's own command line pushes the first policy as that user, and its
// event names it; the user cannot write events/, another user's
// events-by/, keys, revocations, suspensions, approvals, use counters,
// members or the audit head. The shared portcullis-operator user no
// longer writes the whole prefix: it cannot write events/ or a person's
// events-by/ either, and its CLI changes name it. Before, the Job used
// portcullis-operator, whose role wrote the whole prefix: its
// certificate's holder could forge an event under events/ or under any
// person's events-by/ directory.
func TestEtcdRolesPolicyPushJobWritesOnlyItsPush(t *testing.T) {
	t.Parallel()
	const prefix = "/portcullis/default"
	job := readPushJob(t)
	if len(job.args) < 3 || job.args[0] != "policy" || job.args[1] != "push" {
		t.Fatalf("the policy push Job runs %q, want policy push", job.args)
	}
	user := certificateUser(t, job.secret)
	grants := roleGrants(t, prefix)
	if user == "" || user == "portcullis-operator" || len(grants[user]) == 0 {
		t.Fatalf("the policy push Job connects as etcd user %q (Secret %q), want a user of its own that the roles Job grants a role", user, job.secret)
	}
	for _, g := range grants[user] {
		if g[0] != "read" && !strings.HasPrefix(g[1], prefix+"/policy") && g[1] != etcdsync.NewLayout(prefix).EventsBy(user) {
			t.Errorf("the roles Job grants %s %s on %s: policy push writes only policy, policy-history/ and events-by/%s/", user, g[0], g[1], user)
		}
	}
	for _, g := range grants["portcullis-operator"] {
		if g[0] != "read" && g[1] == prefix+"/" {
			t.Errorf("the roles Job still grants portcullis-operator %s on the whole prefix", g[0])
		}
	}
	e := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	setupAuth(t, ctx, dialAs(t, e.Endpoints(), ""), grants)
	upgradeRoles(t, ctx, dialAs(t, e.Endpoints(), "root"), prefix)

	var out, errOut bytes.Buffer
	if code := etcdSub(t, "policy push").main(job.localArgs(e.Endpoints(), user), &out, &errOut); code != 0 {
		t.Fatalf("the Job's policy push as %s = exit %d\n%s%s", user, code, &out, &errOut)
	}
	k := etcdsync.NewLayout(prefix)
	cli := dialAs(t, e.Endpoints(), user)
	evs, err := cli.Get(ctx, k.EventsByDir(), clientv3.WithPrefix())
	if err != nil || len(evs.Kvs) != 1 || !strings.HasPrefix(string(evs.Kvs[0].Key), k.EventsBy(user)) || !strings.Contains(string(evs.Kvs[0].Value), etcdadmin.ActionPolicyPush) {
		t.Errorf("events after the Job's push: %v %v; want its policy.push alone, under %s", evs, err, k.EventsBy(user))
	}

	suffix := fmt.Sprintf("%020d-0badf00d", time.Now().UnixNano())
	for _, key := range []string{prefix + "/events/" + suffix, prefix + "/events-by/ops-alice/" + suffix, prefix + "/events-by/" + suffix,
		prefix + "/keys/forged", prefix + "/revocations/x", prefix + "/suspensions/acme-hris", prefix + "/resumed/acme-hris",
		prefix + "/approvals/x", prefix + "/approval-uses/x", prefix + "/members/x", prefix + "/demand/x", prefix + "/audit/head"} {
		if _, err := cli.Put(ctx, key, "{}"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("%s put %s: %v, want permission denied", user, key, err)
		}
	}

	// policy push writes the policy key and policy-history/ alone: a grant
	// of $P/policy --prefix let the Job's user, and every person's, write
	// any key starting $P/policy, which no reader judges or flags.
	for _, u := range []string{user, "ops-alice"} {
		c := dialAs(t, e.Endpoints(), u)
		for _, key := range []string{prefix + "/policy-x", prefix + "/policyx", prefix + "/policy/x", prefix + "/policy-history"} {
			if _, err := c.Put(ctx, key, "{}"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
				t.Errorf("%s put %s: %v, want permission denied", u, key, err)
			}
		}
	}

	opCli := dialAs(t, e.Endpoints(), "portcullis-operator")
	for _, key := range []string{prefix + "/events/" + suffix, prefix + "/events-by/ops-alice/" + suffix, prefix + "/events-by/" + user + "/" + suffix} {
		if _, err := opCli.Put(ctx, key, "{}"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("portcullis-operator put %s: %v, want permission denied", key, err)
		}
	}
	meta := etcdadmin.Meta{Actor: "test", Reason: "roles", Ticket: "T-1", EtcdUser: "portcullis-operator"}
	if _, _, err := etcdadmin.New(opCli, prefix).CreateKey(ctx, "globex-bi", time.Hour, meta); err != nil {
		t.Errorf("portcullis-operator's keys create: %v", err)
	}
}

// revokeLine is a `role revoke-permission ROLE KEY --prefix` of the roles
// Job's script (through its ctl wrappers).
var revokeLine = regexp.MustCompile(`(?m)^\s*\S+ role revoke-permission (\S+) (\S+) --prefix\s*$`)

// upgradeRoles gives each role what the script's revocations take back
// (portcullis-operator the whole prefix, as the roles Job did before it
// had a policy push user; every person $P/policy --prefix), then runs
// those revocations as root: a cluster set up then, the Job run again.
func upgradeRoles(t *testing.T, ctx context.Context, root *clientv3.Client, prefix string) {
	t.Helper()
	script := rolesScript(t)
	for _, m := range revokeLine.FindAllStringSubmatch(script, -1) {
		for _, rk := range scriptRoles(script, m[1], strings.ReplaceAll(m[2], "$P", prefix)) {
			role, key := rk[0], rk[1]
			if _, err := root.RoleGrantPermission(ctx, role, key, clientv3.GetPrefixRangeEnd(key), clientv3.PermissionType(clientv3.PermReadWrite)); err != nil {
				t.Fatal(err)
			}
			if _, err := root.RoleRevokePermission(ctx, role, key, clientv3.GetPrefixRangeEnd(key)); err != nil {
				t.Fatalf("the roles Job's revoke-permission %s %s: %v", role, key, err)
			}
		}
	}
}
