package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// portcullis dev runs from a directory without examples/ (the example
// policy is built in) and prints the etcd endpoint the other commands
// need, which then reach it through PORTCULLIS_ETCD alone.
func TestDevFromAnyDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	t.Parallel()
	dir := t.TempDir()
	// Without PORTCULLIS_TICKET_SECRET, as a new user starts it: dev
	// logged an error line about the example policy's ticket sink.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PORTCULLIS_TICKET_SECRET=") })
	out := startChild(t, dir, env, false, "dev", "--log-level", "warn",
		"--listen", freeAddr(t), "--upstream", freeAddr(t), "--admin", freeAddr(t), "--collector", freeAddr(t))
	export := regexp.MustCompile(`export PORTCULLIS_ETCD=(\S+)`)
	var endpoint string
	poll(t, "dev to print its etcd endpoint", func() bool {
		if m := export.FindStringSubmatch(out.String()); m != nil {
			endpoint = m[1]
		}
		return endpoint != ""
	})
	// The stack is up (the endpoint is printed after the collector has
	// loaded its detection rules and ticket sinks): dev starts clean.
	if strings.Contains(out.String(), `"level":"error"`) {
		t.Errorf("dev logged an error while starting:\n%s", out.String())
	}
	r := portcullis(t, t.TempDir(), []string{"PORTCULLIS_ETCD=" + endpoint}, "keys", "list", "--client", "acme-hris")
	if r.code != 0 || !strings.Contains(r.stdout, "acmehris1") {
		t.Errorf("keys list against dev's etcd = exit %d, stdout %q, stderr %q; dev output:\n%s", r.code, r.stdout, r.stderr, out.String())
	}
}

// A second portcullis dev on the --data of a running one froze for ever
// without a word (its etcd waiting on the first's database lock) and did
// not stop on SIGTERM, which it caught while it waited. It now fails at
// once naming the directory in use and what to do.
func TestDevTwiceOnOneDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	t.Parallel()
	data := t.TempDir()
	out := startChild(t, "", nil, false, "dev", "--log-level", "warn", "--data", data,
		"--listen", freeAddr(t), "--upstream", freeAddr(t), "--admin", freeAddr(t), "--collector", freeAddr(t))
	poll(t, "the first dev to print its etcd endpoint", func() bool { return strings.Contains(out.String(), "export PORTCULLIS_ETCD=") })
	r := portcullisWithin(t, 20*time.Second, "dev", "--log-level", "warn", "--data", data,
		"--listen", freeAddr(t), "--upstream", freeAddr(t), "--admin", freeAddr(t), "--collector", freeAddr(t))
	if want := "--data " + data + " is in use by another portcullis dev"; r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("a second dev on %s = exit %d, stderr %q; want exit 1 saying %q", data, r.code, r.stderr, want)
	}
}

// failingEtcd writes a stand-in for portcullis-dev that makes its --data
// directory, as etcd starting does, then fails.
func failingEtcd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fake-portcullis-dev")
	script := "#!/bin/sh\nmkdir -p \"$2\"\necho 'fake-portcullis-dev: no etcd here' >&2\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return bin
}

// portcullis dev without portcullis-dev (or with one that failed) left
// the --data directory it had made behind, empty but for its lock. It now
// removes what it made: a directory it created, else the lock file and
// etcd's directory; a directory that was there stays.
func TestDevWithoutEtcdLeavesNothing(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	env := []string{execEtcdEnv + "=1", "PATH=" + t.TempDir()}
	fresh := filepath.Join(base, "a", "b")
	r := portcullis(t, "", env, devArgs(t, "--log-level", "warn", "--data", fresh)...)
	if r.code != 1 || !strings.Contains(r.stderr, devEtcdBinary) {
		t.Errorf("dev without %s = exit %d, stderr %q; want exit 1 naming it", devEtcdBinary, r.code, r.stderr)
	}
	if _, err := os.Lstat(filepath.Join(base, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dev without %s left %s behind (err %v)", devEtcdBinary, filepath.Join(base, "a"), err)
	}
	bin := failingEtcd(t)
	fresh = filepath.Join(base, "c")
	if r := portcullis(t, "", env, devArgs(t, "--log-level", "warn", "--data", fresh, "--etcd-bin", bin)...); r.code != 1 || !strings.Contains(r.stderr, "did not start etcd") {
		t.Errorf("dev with a failing --etcd-bin = exit %d, stderr %q; want exit 1 saying etcd did not start", r.code, r.stderr)
	}
	if _, err := os.Lstat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dev with a failing --etcd-bin left %s behind (err %v)", fresh, err)
	}
	kept := filepath.Join(base, "kept")
	if err := os.Mkdir(kept, 0o700); err != nil {
		t.Fatal(err)
	}
	if r := portcullis(t, "", env, devArgs(t, "--log-level", "warn", "--data", kept, "--etcd-bin", bin)...); r.code != 1 {
		t.Errorf("dev with a failing --etcd-bin on %s = exit %d, stderr %q; want exit 1", kept, r.code, r.stderr)
	}
	if left, err := os.ReadDir(kept); err != nil || len(left) != 0 {
		t.Errorf("dev with a failing --etcd-bin on the existing %s left %v (err %v); want it as it was, empty", kept, left, err)
	}
}

// SIGTERM while portcullis dev waited for its etcd child's endpoints line
// did not stop it: the wait was not cancellable, and a child that never
// printed (here one that also ignores SIGTERM) held dev for ever. The wait
// now ends on the signal, the child is stopped (killed if it does not
// stop) and dev exits.
func TestDevStopsWhileEtcdStarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin, pidFile := filepath.Join(dir, "slow-portcullis-dev"), filepath.Join(dir, "pid")
	script := "#!/bin/sh\necho $$ > '" + pidFile + "'\ntrap '' TERM\nexec sleep 600\n"
	if err := os.WriteFile(bin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperPortcullis$", "--"},
		devArgs(t, "--log-level", "warn", "--data", filepath.Join(dir, "data"), "--etcd-bin", bin)...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1", execEtcdEnv+"=1")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var pid int
	poll(t, "the etcd child to start", func() bool {
		b, err := os.ReadFile(pidFile)
		if err == nil {
			pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		return err == nil && pid > 0
	})
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("dev did not stop on SIGTERM while its etcd child was starting:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("dev stopped while etcd started = exit %d, want 0:\n%s", code, out.String())
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the etcd child %d outlived dev (kill 0: %v)", pid, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dev stopped while etcd started left the --data it made (err %v)", err)
	}
}

// dev read its --policy only once etcd was up: a missing or broken file
// failed the run after etcd had started (exit 1, a JSON log line) and left
// etcd's data in --data. It is now a usage error before anything starts.
func TestDevChecksPolicyBeforeStarting(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	broken := filepath.Join(base, "broken.yaml")
	if err := os.WriteFile(broken, []byte("version: 1\nfoo: 1\nbar: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(base, "missing.yaml")
	// No portcullis-dev anywhere: before the fix the run failed on that,
	// never naming the policy.
	env := []string{execEtcdEnv + "=1", "PATH=" + t.TempDir()}
	for _, c := range []struct{ file, want string }{
		{missing, `--policy: cannot read policy "` + missing + `"`},
		{broken, "--policy " + broken + " is not a valid policy: " + broken + ":2: "},
	} {
		data := filepath.Join(base, "data")
		r := portcullis(t, "", env, "dev", "--data", data, "--policy", c.file)
		if want := "portcullis dev: " + c.want; r.code != 2 || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("dev --policy %s = exit %d, stderr %q; want exit 2 and one line starting %q", c.file, r.code, r.stderr, want)
		}
		if _, err := os.Lstat(data); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("dev --policy %s made %s (err %v); want nothing made", c.file, data, err)
		}
	}
}
