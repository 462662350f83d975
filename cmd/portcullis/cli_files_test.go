//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
)

// A FIFO given as the file of a flag froze every command but the sidecar
// and the collector (which check theirs) for ever in open(2), waiting for
// a writer: the etcd commands on --etcd-cacert, audit verify and evidence
// verify on --public-key, incident assess, evidence pack and review start
// on --policy, and the injector on --tls-cert, which caught SIGTERM first
// and so did not even stop on it; /dev/zero as one of them filled the
// memory. Each is now a usage error naming the flag, the path and what it
// is.
func TestFileFlagsRefuseFIFOsAndDevices(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flag string
		args []string
	}{
		{"etcd-cacert", []string{"keys", "list", "--etcd", "127.0.0.1:1", "--timeout", "1s", "--etcd-cacert", fifo}},
		{"etcd-cacert", []string{"policy", "get", "--etcd", "127.0.0.1:1", "--timeout", "1s", "--cacert", "/dev/zero"}},
		{"public-key", []string{"audit", "verify", "--data", dir, "--public-key", fifo}},
		{"public-key", []string{"evidence", "verify", dir, "--public-key", fifo}},
		{"policy", []string{"incident", "assess", "--client", "c", "--data", dir, "--policy", fifo}},
		{"policy", []string{"review", "start", "access", "--period", "2026-Q1", "--data", dir, "--policy", fifo}},
		{"tls-cert", []string{"injector", "--listen", "127.0.0.1:0", "--tls-cert", fifo, "--tls-key", fifo}},
	} {
		r := portcullisWithin(t, 10*time.Second, c.args...)
		path := c.args[len(c.args)-1]
		if c.flag == "tls-cert" {
			path = fifo
		}
		if want := "--" + c.flag + " " + path + ": not a regular file"; r.code != 2 || !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("portcullis %s = exit %d, stderr %q; want exit 2 and one line with %q", strings.Join(c.args, " "), r.code, r.stderr, want)
		}
	}
	// What is written may be a device: review start --out /dev/stdout.
	if r := portcullisWithin(t, 10*time.Second, "review", "start", "access", "--period", "2026-Q1", "--data", dir,
		"--policy", examplePolicy, "--out", "/dev/stdout"); strings.Contains(r.stderr, "not a regular file") {
		t.Errorf("review start --out /dev/stdout refused: %s", r.stderr)
	}
}

// policy validate, push and diff froze for ever in open(2) on a FIFO
// given as FILE, and read /dev/zero until the memory ran out. Each now
// fails at once with one line naming the file and what it is.
func TestPolicyFileArgRefusesFIFOsAndDevices(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "policy.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	etcd := []string{"--etcd", "127.0.0.1:1", "--timeout", "2s"}
	for _, path := range []string{fifo, "/dev/zero"} {
		for _, args := range [][]string{
			{"policy", "validate", path},
			append([]string{"policy", "push", path, "--reason", "r", "--actor", "alice"}, etcd...),
			append([]string{"policy", "diff", path}, etcd...),
		} {
			r := portcullisWithin(t, 10*time.Second, args...)
			if want := "cannot read policy \"" + path + "\": not a regular file"; r.code != 1 || !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("portcullis %s = exit %d, stderr %q; want exit 1 and one line with %q", strings.Join(args, " "), r.code, r.stderr, want)
			}
		}
	}
}

// --timeout 0s was taken: every etcd command and evidence pack then failed
// at once with "context deadline exceeded (is etcd up at ...?)", etcd up
// and answering. It is now a usage error saying the timeout leaves no time.
func TestZeroTimeoutIsUsageError(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	endpoints := strings.Join(e.Endpoints(), ",")
	dir := t.TempDir()
	for _, args := range [][]string{
		{"keys", "list"},
		{"policy", "history"},
		{"evidence", "pack", "--period", "2026-Q1", "--data", dir, "--out", dir},
		{"review", "start", "access", "--period", "2026-Q1", "--data", dir},
	} {
		args = append(args, "--etcd", endpoints, "--timeout", "0s")
		r := portcullisWithin(t, 10*time.Second, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "--timeout 0s: ") || strings.Contains(r.stderr, "is etcd up") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("portcullis %s = exit %d, stderr %q; want exit 2 and one line naming --timeout 0s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// portcullisTo runs portcullis with stdout written to the file at path
// (/dev/full: every write fails).
func portcullisTo(t *testing.T, path string, args ...string) result {
	t.Helper()
	out, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^TestHelperPortcullis$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &errOut
	cmd.Run()
	return result{code: cmd.ProcessState.ExitCode(), stderr: errOut.String()}
}

// A key whose printing failed (stdout a full disk) was lost without a
// word that mattered: keys generate exited 0, and keys create and keys
// rotate said only "write /dev/stdout: no space left on device", though
// the key was in etcd, valid, and held by nobody. Generate now exits 1
// saying nothing was kept; create and rotate name the key to revoke.
func TestKeyNotPrintedIsNamed(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	etcd := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--actor", "alice"}
	if r := portcullisWithin(t, 20*time.Second, append([]string{"policy", "push", examplePolicy, "--reason", "r"}, etcd...)...); r.code != 0 {
		t.Fatalf("policy push = exit %d: %s", r.code, r.stderr)
	}
	r := portcullisTo(t, "/dev/full", "keys", "generate", "--client", "acme-hris")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot print the key") || !strings.Contains(r.stderr, "nothing was kept") {
		t.Errorf("keys generate > /dev/full = exit %d, stderr %q; want exit 1 saying the key was not printed and nothing kept", r.code, r.stderr)
	}
	r = portcullisTo(t, "/dev/full", append([]string{"keys", "create", "--client", "acme-hris", "--ttl", "1d"}, etcd...)...)
	made := regexp.MustCompile(`key (\w+) was made in etcd but could not be printed .*revoke it with portcullis keys revoke (\w+)`).FindStringSubmatch(r.stderr)
	if r.code != 1 || made == nil || made[1] != made[2] || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("keys create > /dev/full = exit %d, stderr %q; want exit 1 and one line naming the key to revoke", r.code, r.stderr)
	}
	if r := portcullisWithin(t, 20*time.Second, append([]string{"keys", "show", made[1]}, etcd[:2]...)...); r.code != 0 || !strings.Contains(r.stdout, "acme-hris") {
		t.Errorf("keys show %s = exit %d, %q; want the key the error named", made[1], r.code, r.stdout+r.stderr)
	}
	r = portcullisTo(t, "/dev/full", append([]string{"keys", "rotate", made[1], "--overlap", "1h"}, etcd...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "was made in etcd but could not be printed") || !strings.Contains(r.stderr, "the old key "+made[1]+" stays valid") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("keys rotate > /dev/full = exit %d, stderr %q; want exit 1 and one line naming the new key and the old", r.code, r.stderr)
	}
}

// help, version and policy validate exited 0 with stdout a full disk,
// nothing printed and nothing said, where the list commands exit 1 naming
// the write error. Each now exits 1 with one line naming the command and
// the error.
func TestOutputWriteErrorsExit1(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--help"},
		{"help"},
		{"help", "keys", "rotate"},
		{"keys", "--help"},
		{"keys", "rotate", "--help"},
		{"version"},
		{"--version"},
		{"policy", "validate", examplePolicy},
	} {
		r := portcullisTo(t, "/dev/full", args...)
		if r.code != 1 || !strings.Contains(r.stderr, "cannot write to stdout") || !strings.Contains(r.stderr, "no space left on device") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("portcullis %s > /dev/full = exit %d, stderr %q; want exit 1 and one line naming the write error", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// sparse makes a sparse file of size bytes at dir/name.
func sparse(t *testing.T, dir, name string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p
}

// Policy, key and token files were read whole, whatever their size: a
// 10 GB file filled the memory. A policy file over policy.MaxDocumentBytes
// (64 MiB) and a key or token file over collector.MaxKeyFileBytes (1 MiB)
// are now refused before they are read, naming the file, its size and the
// cap; a file just under the cap is still read.
func TestPolicyAndKeyFilesAreCapped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	huge := sparse(t, dir, "huge.yaml", 10<<30)
	over := sparse(t, dir, "over.yaml", policy.MaxDocumentBytes+1)
	bigKey := sparse(t, dir, "big.pub", collector.MaxKeyFileBytes+1)
	bigTokens := sparse(t, dir, "tokens", collector.MaxKeyFileBytes+1)
	key, _ := signingKeyFile(t)
	tokens := filepath.Join(dir, "tokens.ok")
	if err := os.WriteFile(tokens, []byte("s1 0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	etcd := []string{"--etcd", "127.0.0.1:1", "--timeout", "2s"}
	for _, c := range []struct {
		args       []string
		file, cap_ string
	}{
		{[]string{"policy", "validate", huge}, huge, "64 MiB"},
		{[]string{"policy", "validate", over}, over, "64 MiB"},
		{append([]string{"policy", "push", huge, "--reason", "r", "--actor", "alice"}, etcd...), huge, "64 MiB"},
		{append([]string{"policy", "diff", huge}, etcd...), huge, "64 MiB"},
		{[]string{"incident", "assess", "--client", "c", "--data", dir, "--policy", huge}, huge, "64 MiB"},
		{[]string{"sidecar", "--policy", huge, "--upstream", "127.0.0.1:1", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, huge, "64 MiB"},
		{[]string{"audit", "verify", "--data", dir, "--public-key", bigKey}, bigKey, "1 MiB"},
		{[]string{"collector", "--data", dir, "--signing-key", key, "--token-file", bigTokens, "--listen", "127.0.0.1:0"}, bigTokens, "1 MiB"},
		{[]string{"collector", "--data", dir, "--signing-key", bigKey, "--token-file", tokens, "--listen", "127.0.0.1:0"}, bigKey, "1 MiB"},
		{[]string{"sidecar", "--policy", examplePolicy, "--upstream", "127.0.0.1:1", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
			"--collector", "http://127.0.0.1:1", "--collector-token-file", bigTokens}, bigTokens, "1 MiB"},
		// These three were still read whole: a published head, the
		// policy of a pack made without etcd, and a worksheet.
		// (The head outside the store's directory: one inside it is
		// refused before it is read, TestPublishedHeadInsideTheStoreRefused.)
		{[]string{"audit", "verify", "--data", t.TempDir(), "--public-key", key + ".pub", "--published-head", bigKey}, bigKey, "1 MiB"},
		{[]string{"evidence", "pack", "--period", "2026-Q2", "--data", dir, "--policy", huge, "--out", dir}, huge, "64 MiB"},
		{append([]string{"review", "sign", "--kind", "access", "--period", "2026-Q2", "--worksheet", huge, "--reviewer", "rita",
			"--decision", "approved", "--note", "n"}, etcd...), huge, "64 MiB"},
	} {
		want := 1
		if c.args[0] == "review" {
			want = 2 // the worksheet is checked with the flags
		}
		r := portcullisWithin(t, 20*time.Second, c.args...)
		if r.code != want || !strings.Contains(r.stderr, c.file) || !strings.Contains(r.stderr, "too large") || !strings.Contains(r.stderr, "over the cap of "+c.cap_) {
			t.Errorf("portcullis %s = exit %d, stderr %q; want exit %d naming the file as too large, over the cap of %s", strings.Join(c.args, " "), r.code, r.stderr, want, c.cap_)
		}
	}
}

// policy validate, push and diff took FILE "-" for a file named "-" and
// failed with "open -: no such file or directory", not saying whether -
// was supported. "-" now reads stdin (kustomize build | portcullis policy
// validate -), named "stdin" in what they print, and a terminal there is
// a usage error, as for inject -f -.
func TestPolicyFileDashReadsStdin(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	if r := portcullisStdin(t, string(doc), "policy", "validate", "-"); r.code != 0 || !strings.HasPrefix(r.stdout, "stdin: ok (") {
		t.Errorf("policy validate - < example = exit %d, stdout %q, stderr %q; want exit 0 and stdin: ok", r.code, r.stdout, r.stderr)
	}
	if r := portcullisStdin(t, "routes: [\n", "policy", "validate", "-"); r.code != 1 || !strings.HasPrefix(r.stderr, "stdin:1: ") {
		t.Errorf("policy validate - < broken = exit %d, stderr %q; want exit 1 and problems as stdin:LINE", r.code, r.stderr)
	}
	if r := portcullisStdin(t, "", "policy", "validate", "-"); r.code != 1 || !strings.Contains(r.stderr, "the policy on stdin is empty") {
		t.Errorf("policy validate - < /dev/null = exit %d, stderr %q; want exit 1 saying stdin is empty", r.code, r.stderr)
	}
	// The sidecar reads --policy again on SIGHUP: it names a file only.
	if r := portcullisStdin(t, string(doc), "sidecar", "--policy", "-", "--upstream", "127.0.0.1:1", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"); r.code != 1 || !strings.Contains(r.stderr, `cannot read policy \"-\"`) {
		t.Errorf("sidecar --policy - = exit %d, stderr %q; want exit 1, - taken as a file name", r.code, r.stderr)
	}
	e := startEtcd(t)
	etcd := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--timeout", "10s"}
	if r := portcullisStdin(t, string(doc), append([]string{"policy", "push", "-", "--reason", "r", "--actor", "alice"}, etcd...)...); r.code != 0 || !strings.HasPrefix(r.stdout, "pushed stdin to ") {
		t.Fatalf("policy push - = exit %d, stdout %q, stderr %q; want exit 0 and pushed stdin", r.code, r.stdout, r.stderr)
	}
	if r := portcullisStdin(t, string(doc), append([]string{"policy", "diff", "-"}, etcd...)...); r.code != 0 || !strings.Contains(r.stdout, "stdin is the policy in etcd") {
		t.Errorf("policy diff - (same) = exit %d, stdout %q, stderr %q; want exit 0 and no differences", r.code, r.stdout, r.stderr)
	}
	if r := portcullisStdin(t, string(doc)+"# changed\n", append([]string{"policy", "diff", "-"}, etcd...)...); r.code != 1 || !strings.Contains(r.stdout, "+# changed") {
		t.Errorf("policy diff - (changed) = exit %d, stdout %q, stderr %q; want exit 1 and the difference", r.code, r.stdout, r.stderr)
	}
	tty := openPTY(t)
	for _, args := range [][]string{{"policy", "validate", "-"}, append([]string{"policy", "diff", "-"}, etcd...)} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^TestHelperPortcullis$", "--"}, args...)...)
		cmd.Env = append(os.Environ(), helperEnv+"=1")
		var errOut bytes.Buffer
		cmd.Stdin, cmd.Stderr = tty, &errOut
		cmd.Run()
		if ctx.Err() != nil {
			t.Errorf("portcullis %s with a terminal as stdin still waiting after 10s", strings.Join(args, " "))
		}
		cancel()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(errOut.String(), "stdin, which is a terminal") || strings.Count(errOut.String(), "\n") != 1 {
			t.Errorf("portcullis %s on a terminal = exit %d, stderr %q; want exit 2 and one line saying stdin is a terminal", strings.Join(args, " "), code, errOut.String())
		}
	}
}
