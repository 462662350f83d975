package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRolesJobRefusesOperatorNamesItCannotGrant runs the roles Job's
// script with sh, as the Job's busybox does, with OPERATORS naming people
// the script cannot give a role that works: a name the CLI escapes
// (url.PathEscape) into another directory than the script grants
// (events-by/<name>/), a name holding an escape of its own that binds
// another user ("x%2Fy" binds "x/y"), a name starting with a dot, and a
// name of the roles the script makes for programs, whose role the loop
// would widen (portcullis-sidecar writing keys/). Each is refused naming
// it before any etcd call (PATH holds no etcdctl: a call would fail
// otherwise); the names the deployment uses pass the check.
func TestRolesJobRefusesOperatorNamesItCannotGrant(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to run the roles Job's script")
	}
	script := rolesScript(t)
	run := func(operators string) (string, error) {
		cmd := exec.Command("sh", "-euc", script)
		cmd.Env = []string{"OPERATORS=" + operators, "PATH=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, bad := range []string{"ops-alice ops/bob", "x%2Fy", "ops-bøb", ".hidden", "root", "portcullis-sidecar", "ops-alice portcullis-collector"} {
		out, err := run(bad)
		name := strings.Fields(bad)[len(strings.Fields(bad))-1]
		if err == nil || !strings.Contains(out, `OPERATORS: "`+name+`" is not`) {
			t.Errorf("OPERATORS=%q: %v\n%s\nwant refused naming %q", bad, err, out, name)
		}
		if strings.Contains(out, "etcdctl") {
			t.Errorf("OPERATORS=%q: the script called etcd before refusing:\n%s", bad, out)
		}
	}
	if out, _ := run("ops-alice ops_bob carol.d"); strings.Contains(out, "OPERATORS:") {
		t.Errorf("names the deployment uses refused:\n%s", out)
	}
}
