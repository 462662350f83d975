package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/devetcd"
)

// etcd lost while an operator revokes a key and pushes a policy: each
// command fails, exit 1, naming etcd (never a false success), nothing
// changes at the sidecar, and once etcd is back the same commands
// succeed and a sidecar that watched etcd throughout applies both.
func TestEtcdLostDuringRevokeAndPush(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	e, err := devetcd.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	const prefix = "/etcd-lost-test"
	common := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", prefix, "--timeout", "2s"}
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		cmd, ok := lookupEtcd(args[0] + " " + args[1])
		if !ok {
			t.Fatalf("no command %q", args[:2])
		}
		all := append(append(args[2:], common...), "--actor", "alice", "--ticket", "CHG-9")
		if got := cmd.main(all, &out, &errOut); got != want {
			t.Fatalf("portcullis %s = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, want, &out, &errOut)
		}
		return out.String() + errOut.String()
	}
	run(0, "policy", "push", examplePolicy, "--reason", "first")
	f := runInProcess(t, sidecarFlags{etcd: etcdConnFlags{endpoints: strings.Join(e.Endpoints(), ","), prefix: prefix},
		stateDir: t.TempDir(), pod: "etcd-lost-pod", drain: 1})
	const hris = "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"
	pollUntil(t, obsWait, "the key accepted", func() (bool, string) {
		code := get(t, "http://"+f.listen+"/v1/users", hris)
		return code == 200, "status " + strconv.Itoa(code)
	})
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(changed, bytes.Replace(doc, []byte("name: Acme Corp"), []byte("name: Acme Ltd"), 1), 0o600); err != nil {
		t.Fatal(err)
	}

	e.Stop()
	if out := run(1, "keys", "revoke", "acmehris1", "--reason", "compromised"); !strings.Contains(out, "etcd") {
		t.Errorf("revoke with etcd gone said %q, want an error naming etcd", out)
	}
	if out := run(1, "policy", "push", changed, "--reason", "rename"); !strings.Contains(out, "etcd") {
		t.Errorf("push with etcd gone said %q, want an error naming etcd", out)
	}
	if code := get(t, "http://"+f.listen+"/v1/users", hris); code != 200 {
		t.Errorf("the key after a revocation that failed: %d, want 200", code)
	}

	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	run(0, "keys", "revoke", "acmehris1", "--reason", "compromised")
	out := run(0, "policy", "push", changed, "--reason", "rename")
	pollUntil(t, obsWait, "the revocation applied after etcd returned", func() (bool, string) {
		code := get(t, "http://"+f.listen+"/v1/users", hris)
		return code == 401, "status " + strconv.Itoa(code)
	})
	revOf := func(s string) int {
		m := regexp.MustCompile(`revision (\d+)`).FindStringSubmatch(s)
		if m == nil {
			return -1
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	pushed := revOf(out)
	if pushed < 0 {
		t.Fatalf("push output %q names no revision", out)
	}
	pollUntil(t, obsWait, "the push applied after etcd returned", func() (bool, string) {
		_, ready := body(t, "http://"+f.admin+"/readyz")
		return strings.Contains(ready, "in sync at revision") && revOf(ready[strings.Index(ready, "in sync at"):]) >= pushed, ready
	})
}
