//go:build linux

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A FIFO where the sidecar or the collector writes a file at start froze
// the process there for ever, without a word: open(2) for writing waits
// for a reader, and SIGTERM did not end the wait. --audit-file, or a FIFO
// planted under the name of the temporary file of a durable write (the
// collector's store marker, first written at start), now fails the start
// at once with one line naming the path and what it is.
func TestFIFOAtStartRefusedNotWaitedOn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	policyFile, err := filepath.Abs("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fifo := func(path string) string {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	auditFIFO := fifo(filepath.Join(h.dir, "audit.jsonl"))
	marker := fifo(filepath.Join(h.dir, "data", ".tmp-store.id"))
	keyFile, tokenFile := h.collectorFiles("sidecar-a fifo-test-collector-token-0123456789abcdef")
	for _, c := range []struct {
		name, path string
		args       []string
	}{
		{"sidecar", auditFIFO, []string{"sidecar", "--policy", policyFile, "--upstream", freeAddr(t), "--listen", freeAddr(t),
			"--admin", freeAddr(t), "--audit-file", auditFIFO}},
		{"collector", marker, []string{"collector", "--listen", freeAddr(t), "--data", filepath.Dir(marker),
			"--signing-key", keyFile, "--token-file", tokenFile}},
	} {
		p := h.start(c.name, c.args...)
		select {
		case <-p.done:
		case <-time.After(killWait):
			t.Fatalf("%s still starting after %v with a FIFO at %s: frozen in open(2)", c.name, killWait, c.path)
		}
		if p.err == nil {
			t.Errorf("%s with a FIFO at %s exited 0, want a failed start", c.name, c.path)
		}
		b, _ := os.ReadFile(filepath.Join(h.dir, c.name+".log"))
		if !strings.Contains(string(b), c.path) || !strings.Contains(string(b), "it is a FIFO") {
			t.Errorf("%s log does not name %s as a FIFO:\n%s", c.name, c.path, b)
		}
	}
}

// A FIFO at the last-known-good file's name in --state-dir froze the
// sidecar's policy sync when etcd did not answer at start: it waited for
// a writer in open(2) for ever, so it followed etcd no more once etcd came
// back. It is now refused at once (logged, naming it a FIFO), and the sync
// goes on waiting for etcd.
func TestSidecarLKGFIFORefusedNotWaitedOn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	e, _ := etcdClient(t)
	p := newFreezeProxy(t, strings.TrimPrefix(e.Endpoints()[0], "http://"))
	p.freeze()
	state := filepath.Join(h.dir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(state, "policy-lkg.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start("sidecar", "sidecar", "--etcd", "http://"+p.ln.Addr().String(), "--prefix", "/lkgfifo", "--upstream", freeAddr(t),
		"--listen", freeAddr(t), "--admin", freeAddr(t), "--state-dir", state, "--spool", filepath.Join(h.dir, "spool"))
	h.until("the sidecar refusing the FIFO as its last-known-good file", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(h.dir, "sidecar.log"))
		return strings.Contains(string(b), "no last-known-good policy") && strings.Contains(string(b), "it is a FIFO"), string(b)
	})
}

// A FIFO given as any file the sidecar or the collector reads at start
// (--policy, a token, a key, a certificate) froze the process there for
// ever in open(2), waiting for a writer, without a word; the sidecar,
// which catches SIGTERM before it reads them, did not even stop on it.
// --audit-file's refusal named the path, not the flag. Each is now a
// one-line usage error naming the flag, the path and what it is.
func TestFIFOFlagFilesRefusedNamingTheFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	policyFile, err := filepath.Abs("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	keyFile, tokenFile := h.collectorFiles("sidecar-a fifo-flag-collector-token-0123456789abcdef")
	sidecar := func(flag, path string) []string {
		args := []string{"sidecar", "--upstream", freeAddr(t), "--listen", freeAddr(t), "--admin", freeAddr(t),
			"--spool", filepath.Join(h.dir, "spool-"+flag)}
		if flag != "policy" {
			args = append(args, "--policy", policyFile)
		}
		if flag == "collector-token-file" {
			args = append(args, "--collector", "http://"+freeAddr(t))
		}
		return append(args, "--"+flag, path)
	}
	collector := func(flag, path string) []string {
		args := []string{"collector", "--listen", freeAddr(t), "--data", filepath.Join(h.dir, "data-"+flag)}
		if flag != "signing-key" {
			args = append(args, "--signing-key", keyFile)
		}
		if flag != "token-file" {
			args = append(args, "--token-file", tokenFile)
		}
		return append(args, "--"+flag, path)
	}
	type run struct {
		name, flag, path string
		p                *proc
	}
	var runs []run
	for _, c := range []struct {
		cmd   func(flag, path string) []string
		name  string
		flags []string
	}{
		{sidecar, "sidecar", []string{"policy", "audit-file", "collector-token-file", "tls-cert"}},
		{collector, "collector", []string{"signing-key", "token-file", "policy", "publish-head"}},
	} {
		for _, flag := range c.flags {
			path := filepath.Join(h.dir, c.name+"-"+flag+".fifo")
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			args := c.cmd(flag, path)
			if flag == "tls-cert" {
				args = append(args, "--tls-key", keyFile)
			}
			runs = append(runs, run{c.name, flag, path, h.start(c.name+"-"+flag, args...)})
		}
	}
	deadline := time.Now().Add(killWait)
	for _, r := range runs {
		select {
		case <-r.p.done:
		case <-time.After(time.Until(deadline)):
		}
		select {
		case <-r.p.done:
		default:
			t.Errorf("%s with a FIFO as --%s has not exited after %v: frozen in open(2), or running without the file", r.name, r.flag, killWait)
			continue
		}
		var exit *exec.ExitError
		if !errors.As(r.p.err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%s with a FIFO as --%s: %v, want exit 2 (a usage error)", r.name, r.flag, r.p.err)
		}
		b, _ := os.ReadFile(filepath.Join(h.dir, r.name+"-"+r.flag+".log"))
		if want := "--" + r.flag + " " + r.path + ": "; !strings.Contains(string(b), want) || !strings.Contains(string(b), "it is a FIFO") ||
			strings.Count(strings.TrimSpace(string(b)), "\n") != 0 {
			t.Errorf("%s with a FIFO as --%s: want one line naming %q as a FIFO, got:\n%s", r.name, r.flag, want, b)
		}
	}
}

// A FIFO swapped in at the --policy file's name of a file-mode sidecar
// held the SIGHUP reload in open(2) for good, waiting for a writer, with
// no word: no later SIGHUP reloaded anything, and SIGTERM, which waits
// for the reload loop, never ended the process. The reload now refuses
// it (logged, naming it a FIFO, the policy in force kept), the next
// SIGHUP loads the regular file put back, and SIGTERM stops the sidecar.
func TestPolicyReloadFIFORefusedNotWaitedOn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	policyFile, doc := h.examplePolicy()
	admin := freeAddr(t)
	p := h.start("sidecar", "sidecar", "--policy", policyFile, "--upstream", freeAddr(t), "--listen", freeAddr(t),
		"--admin", admin, "--audit-file", filepath.Join(h.dir, "audit.jsonl"), "--drain-delay", "0s")
	h.serving("sidecar up", "http://"+admin+"/healthz")
	logged := func(what string, all ...string) {
		h.until(what, func() (bool, string) {
			b, _ := os.ReadFile(filepath.Join(h.dir, "sidecar.log"))
			for _, s := range all {
				if !strings.Contains(string(b), s) {
					return false, string(b)
				}
			}
			return true, ""
		})
	}
	if err := syscall.Mkfifo(policyFile+".fifo", 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(policyFile+".fifo", policyFile); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	logged("the reload refusing the FIFO", "policy reload refused", "it is a FIFO")
	if err := os.Remove(policyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policyFile, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	logged("the next SIGHUP loading the policy put back", `"revision":2`)
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM after the reloads: %v, want exit 0", err)
	}
}

// A FIFO at a ticket sink's secret file (secret: file:PATH, or url_file:),
// which no flag names so the start's check of flag files never saw it,
// froze the collector at start in open(2), waiting for a writer: no batch
// taken, nothing logged, and SIGTERM, caught already, did not end it. The
// FIFO is now an unreadable secret like a missing file: the sink is left
// out and named in the log, and the collector serves.
func TestCollectorTicketSecretFIFONotWaitedOn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	fifo := filepath.Join(h.dir, "ticket.secret")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	policyFile, _ := h.examplePolicy(`secret: "env:PORTCULLIS_TICKET_SECRET"}`, `secret: "file:`+fifo+`"}`)
	collectorServesNamingFIFO(t, h, "the sink's secret file", filepath.Join(h.dir, "data"), policyFile)
}

// collectorServesNamingFIFO starts a collector on data with policyFile,
// waits until it serves, checks that its log names what a FIFO, and stops
// it with SIGTERM, expecting exit 0.
func collectorServesNamingFIFO(t *testing.T, h *killHarness, what, data, policyFile string) {
	t.Helper()
	keyFile, tokenFile := h.collectorFiles("sidecar-a fifo-collector-token-0123456789abcdef")
	metrics := freeAddr(t)
	p := h.start("collector", "collector", "--listen", freeAddr(t), "--metrics-listen", metrics, "--data", data,
		"--signing-key", keyFile, "--token-file", tokenFile, "--policy", policyFile)
	h.serving("the collector serving, "+what+" a FIFO", "http://"+metrics+"/healthz")
	if b, _ := os.ReadFile(filepath.Join(h.dir, "collector.log")); !strings.Contains(string(b), "it is a FIFO") {
		t.Errorf("the collector log does not name %s a FIFO:\n%s", what, b)
	}
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v, want exit 0", err)
	}
}

// A FIFO at the detection snapshot's name (DATA/detection/snapshot.json,
// read once at each start to skip replaying the whole trail) froze the
// collector's start in open(2), waiting for a writer, with no word, and
// SIGTERM, caught already, did not end it. The FIFO is now a snapshot not
// used, saying why: the whole trail is replayed and the collector serves.
func TestCollectorSnapshotFIFONotWaitedOn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	policyFile, err := filepath.Abs("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(h.dir, "data")
	if err := os.MkdirAll(filepath.Join(data, "detection"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(data, "detection", "snapshot.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	collectorServesNamingFIFO(t, h, "the detection snapshot", data, policyFile)
}

// audit verify read --published-head with os.ReadFile, so a FIFO given
// there (or planted where a cron job copies the head) froze it in open(2)
// with no word. It is now refused, naming it a FIFO, and verify fails.
func TestVerifyPublishedHeadFIFONotWaitedOn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	keyFile, _ := h.collectorFiles("sidecar-a fifo-verify-collector-token-0123456789abcdef")
	data := filepath.Join(h.dir, "data")
	appendToStore(t, data, keyFile, 0, 2)
	fifo := filepath.Join(h.dir, "published-head.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(h.bin, "audit", "verify", "--data", data, "--public-key", keyFile+".pub", "--published-head", fifo)
	done := make(chan error, 1)
	var out []byte
	go func() {
		var err error
		out, err = cmd.CombinedOutput()
		done <- err
	}()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(string(out), "FIFO") {
			t.Errorf("verify with a FIFO as --published-head: %v, %s; want a failure naming the FIFO", err, out)
		}
	case <-time.After(killWait):
		cmd.Process.Kill()
		t.Fatal("audit verify waited on the FIFO given as --published-head")
	}
}
