package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// portcullisToClosedPipe runs portcullis args with stdout a pipe whose
// reader has gone (`portcullis keys create ... | tool`, the tool crashed
// or exited first).
func portcullisToClosedPipe(t *testing.T, args ...string) result {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^TestHelperPortcullis$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = w, &errOut
	cmd.Run()
	return result{code: cmd.ProcessState.ExitCode(), stderr: errOut.String()}
}

// A command that changes something and prints what it made, its stdout a
// pipe whose reader had gone: the write raised SIGPIPE, which killed the
// process (exit 141 in a shell, -1 here) without a word, after keys create
// had made a valid key in etcd that nobody held and nothing named. The
// changing commands now take the write's error as they take a full
// disk's: keys create and rotate exit 1 naming the key to revoke, keys
// generate saying nothing was kept.
func TestKeyNotPrintedToAClosedPipeIsNamed(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	etcd := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--actor", "alice"}
	if r := portcullisWithin(t, 20*time.Second, append([]string{"policy", "push", examplePolicy, "--reason", "r"}, etcd...)...); r.code != 0 {
		t.Fatalf("policy push = exit %d: %s", r.code, r.stderr)
	}
	r := portcullisToClosedPipe(t, "keys", "generate", "--client", "acme-hris")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot print the key") || !strings.Contains(r.stderr, "broken pipe") {
		t.Errorf("keys generate | closed pipe = exit %d, stderr %q; want exit 1 saying the key was not printed", r.code, r.stderr)
	}
	r = portcullisToClosedPipe(t, append([]string{"keys", "create", "--client", "acme-hris", "--ttl", "1d"}, etcd...)...)
	made := regexp.MustCompile(`key (\w+) was made in etcd but could not be printed .*broken pipe.*revoke it with portcullis keys revoke (\w+)`).FindStringSubmatch(r.stderr)
	if r.code != 1 || made == nil || made[1] != made[2] {
		t.Fatalf("keys create | closed pipe = exit %d, stderr %q; want exit 1 and one line naming the key to revoke", r.code, r.stderr)
	}
	r = portcullisToClosedPipe(t, append([]string{"keys", "rotate", made[1], "--overlap", "1h"}, etcd...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "was made in etcd but could not be printed") {
		t.Errorf("keys rotate | closed pipe = exit %d, stderr %q; want exit 1 naming the new key", r.code, r.stderr)
	}
}

// A server whose log reader goes away (`portcullis sidecar ... 2>&1 |
// tee`, tee gone): its next log line raised SIGPIPE, which killed it at
// once, without the drain, the audit flush or the final signed head, and
// the records it held in memory went with it. The servers now take the
// failed log write as one and keep serving; SIGTERM still stops them
// cleanly.
func TestServersSurviveAClosedLogPipe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, _ := signingKeyFile(t)
	tokens := dir + "/tokens"
	if err := os.WriteFile(tokens, []byte("s1 0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sidecarAdmin, collectorAddr := freeAddr(t), freeAddr(t)
	for _, c := range []struct {
		health string
		args   []string
	}{
		{"http://" + sidecarAdmin + "/healthz", []string{"sidecar", "--policy", examplePolicy, "--upstream", freeAddr(t), "--listen", freeAddr(t),
			"--admin", sidecarAdmin, "--audit-file", dir + "/audit.jsonl", "--drain-delay", "0s"}},
		{"http://" + collectorAddr + "/healthz", []string{"collector", "--data", dir + "/data", "--signing-key", key, "--token-file", tokens,
			"--listen", collectorAddr}},
	} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperPortcullis$", "--"}, c.args...)...)
		cmd.Env = append(os.Environ(), helperEnv+"=1")
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		up := false
		for deadline := time.Now().Add(obsWait); !up && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			select {
			case err := <-exited:
				t.Fatalf("portcullis %s with its log pipe closed exited before it served: %v", c.args[0], err)
			default:
			}
			up = get(t, c.health, "") != 0
		}
		if !up {
			t.Errorf("portcullis %s with its log pipe closed: %s never answered", c.args[0], c.health)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("portcullis %s with its log pipe closed stopped with %v on SIGTERM, want exit 0", c.args[0], err)
			}
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			t.Errorf("portcullis %s with its log pipe closed did not stop on SIGTERM", c.args[0])
		}
	}
}
