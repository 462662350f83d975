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

// TestRolesJobNamesAPersonsDevices: a person with a second personal
// certificate is one person to the two-person checks only when its
// etcd user is named person+device (etcdadmin.EtcdPerson). The script
// takes such names and refuses a "+" anywhere else (two of them, an
// empty person or device) and a device of root or of a program's role,
// which name no person (etcdadmin.SharedEtcdUser). Before, it refused
// every "+", so a second certificate of alice's could only be a name
// of its own, a second person.
func TestRolesJobNamesAPersonsDevices(t *testing.T) {
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
	if out, _ := run("ops-alice ops-alice+laptop ops_bob+desk.2"); strings.Contains(out, "OPERATORS:") {
		t.Errorf("a person's device users refused:\n%s", out)
	}
	for _, bad := range []string{"a+b+c", "+laptop", "ops-alice+", "root+laptop", "portcullis-operator+x", ".x+y", "ops-alice+.x"} {
		out, err := run(bad)
		if err == nil || !strings.Contains(out, `OPERATORS: "`+bad+`" is not`) {
			t.Errorf("OPERATORS=%q: %v\n%s\nwant refused naming it", bad, err, out)
		}
	}
}
