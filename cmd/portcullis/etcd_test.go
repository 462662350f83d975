package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/devetcd"
)

// TestEtcdCommands drives the etcd subcommands against a real etcd server
// started in process, the way an operator would.
func TestEtcdCommands(t *testing.T) {
	t.Parallel()
	e, err := devetcd.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	common := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/cli-test"}
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		cmd, ok := lookupEtcd(args[0] + " " + args[1])
		if !ok {
			t.Fatalf("no command %q", args[:2])
		}
		all := append(args[2:], common...)
		if cmd.change {
			all = append(all, "--actor", "alice", "--ticket", "CHG-7")
		}
		if got := cmd.main(all, &out, &errOut); got != want {
			t.Fatalf("portcullis %s = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, want, &out, &errOut)
		}
		return out.String() + errOut.String()
	}

	out := run(0, "policy", "push", examplePolicy, "--reason", "first")
	rev := regexp.MustCompile(`revision (\d+)`).FindStringSubmatch(out)
	if rev == nil {
		t.Fatalf("push output %q names no revision", out)
	}
	run(1, "policy", "push", examplePolicy, "--expect-revision", "1")
	run(0, "policy", "push", examplePolicy, "--expect-revision", rev[1])
	if out := run(0, "policy", "get"); !strings.Contains(out, "name: Acme Corp") {
		t.Errorf("policy get = %q, want the document", out)
	}
	changed := filepath.Join(t.TempDir(), "p.yaml")
	doc, _ := os.ReadFile(examplePolicy)
	os.WriteFile(changed, bytes.Replace(doc, []byte("name: Acme Corp"), []byte("name: Acme Ltd"), 1), 0o600)
	if out := run(0, "policy", "diff", examplePolicy); !strings.Contains(out, "no differences") {
		t.Errorf("policy diff of the pushed file = %q, want no differences", out)
	}
	if out := run(1, "policy", "diff", changed); !strings.Contains(out, "-    name: Acme Corp\n+    name: Acme Ltd") {
		t.Errorf("policy diff = %q, want the changed line", out)
	}
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	os.WriteFile(broken, []byte("version: 1\ncolour: blue\n"), 0o600)
	if out := run(1, "policy", "push", broken); !strings.Contains(out, broken+":2: ") {
		t.Errorf("push of a broken file = %q, want FILE:LINE problems", out)
	}
	if out := run(0, "policy", "history"); strings.Count(out, "alice") != 2 || !strings.Contains(out, "CHG-7") {
		t.Errorf("policy history = %q, want two pushes by alice", out)
	}

	out = run(0, "keys", "create", "--client", "globex-bi", "--ttl", "720h", "--json")
	var created struct {
		Key    string `json:"key"`
		Record struct {
			ID string `json:"id"`
		} `json:"record"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Record.ID == "" {
		t.Fatalf("keys create --json = %q (%v)", out, err)
	}
	secret := created.Key[strings.LastIndexByte(created.Key, '_')+1:]
	for _, args := range [][]string{{"keys", "list"}, {"keys", "show", created.Record.ID}, {"keys", "list", "--client", "globex-bi", "--json"}} {
		if out := run(0, args...); strings.Contains(out, secret) || !strings.Contains(out, created.Record.ID) {
			t.Errorf("%s = %q, want the key without its secret", args, out)
		}
	}
	if out := run(0, "keys", "rotate", created.Record.ID, "--overlap", "24h"); !strings.Contains(out, "shown once") {
		t.Errorf("keys rotate = %q, want the new key", out)
	}
	run(0, "keys", "revoke", created.Record.ID, "--reason", "leaked")
	if out := run(0, "keys", "show", created.Record.ID); !strings.Contains(out, "revoked") || !strings.Contains(out, "leaked") {
		t.Errorf("keys show after revoke = %q", out)
	}
	run(1, "keys", "revoke", created.Record.ID, "--reason", "again")
	run(1, "keys", "create", "--client", "nobody")
	run(0, "clients", "suspend", "acme-hris", "--for", "1h", "--reason", "abuse")
	run(0, "clients", "resume", "acme-hris")
	run(1, "clients", "resume", "acme-hris")

	// Usage errors exit 2 before anything is written.
	run(2, "keys", "revoke", created.Record.ID)
	run(2, "keys", "rotate", created.Record.ID)
	run(2, "keys", "create")
	run(2, "clients", "suspend", "acme-hris", "--reason", "x")
	run(2, "policy", "push")
	run(2, "policy", "get", "--bogus")
}

// lookupEtcd returns the etcd subcommand with the full name name ("keys
// revoke") from the command table.
func lookupEtcd(name string) (etcdCmd, bool) {
	g, sub, _ := strings.Cut(name, " ")
	c := commandTable()[g].sub[sub]
	if c.etcd == nil {
		return etcdCmd{}, false
	}
	return *c.etcd, true
}

// etcdSub is lookupEtcd failing t when there is no such command.
func etcdSub(t testing.TB, name string) etcdCmd {
	t.Helper()
	c, ok := lookupEtcd(name)
	if !ok {
		t.Fatalf("no etcd command %q", name)
	}
	return c
}
