package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/portcullis/portcullis/policy/policytest"
)

// SIGHUP reloads a file-mode sidecar's policy. Sent to an etcd-mode
// sidecar or to the collector (an operator's habit, a config tool that
// signals every portcullis process, a closed terminal), it killed them
// on the spot with exit 129: no drain, the audit records in memory lost,
// the collector's final head never published. Now they log that there is
// nothing to reload and carry on; SIGTERM still stops them cleanly.
func TestHangupDoesNotKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	e, _ := etcdClient(t)
	keyFile, tokenFile := h.collectorFiles("hup-test-collector-token-0123456789abcdef")
	colAddr, colMetrics, admin := freeAddr(t), freeAddr(t), freeAddr(t)
	procs := map[string]struct {
		p      *proc
		health string
	}{
		"collector": {h.start("collector", "collector", "--listen", colAddr, "--metrics-listen", colMetrics, "--data", filepath.Join(h.dir, "data"),
			"--signing-key", keyFile, "--token-file", tokenFile), "http://" + colMetrics + "/healthz"},
		"sidecar": {h.start("sidecar", "sidecar", "--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/hup", "--state-dir", filepath.Join(h.dir, "state"),
			"--upstream", freeAddr(t), "--listen", freeAddr(t), "--admin", admin, "--audit-file", filepath.Join(h.dir, "audit.jsonl"),
			"--drain-delay", "0s"), "http://" + admin + "/healthz"},
	}
	for name, c := range procs {
		h.serving(name+" up", c.health)
		c.p.cmd.Process.Signal(syscall.SIGHUP)
		h.until(name+" logging the SIGHUP it ignored", func() (bool, string) {
			b, _ := os.ReadFile(filepath.Join(h.dir, name+".log"))
			return strings.Contains(string(b), "SIGHUP"), string(b)
		})
		if code := h.status(c.health); code != 200 {
			t.Errorf("%s after SIGHUP: /healthz %d, want 200", name, code)
		}
		if err := c.p.signal(t, syscall.SIGTERM); err != nil {
			t.Errorf("%s after SIGHUP, then SIGTERM: %v, want exit 0", name, err)
		}
	}
}

// cpuTicks is the CPU time pid has used, user and system, in clock ticks
// (1/100 s), read from /proc/PID/stat; -1 when it cannot be read.
func cpuTicks(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	f := strings.Fields(s[i+1:])       // f[0] is field 3, the state
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.Atoi(f[11]) // field 14, utime
	k, err2 := strconv.Atoi(f[12]) // field 15, stime
	if err1 != nil || err2 != nil {
		return -1
	}
	return u + k
}

// A file-mode sidecar caught SIGHUP only once its first load of the
// policy was done: a SIGHUP while it read and compiled a large policy
// (a config tool signalling after writing the file, a storm of them
// while the pod restarted) killed it on the spot, exit 129, before it
// served a request. SIGHUP is now caught from the start, and one that
// arrives while the policy loads reloads it once the load is done.
func TestHangupDuringPolicyLoadDoesNotKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	doc, _ := policytest.Document(policytest.Size{Tenants: 100, Clients: 2000, Keys: 100000, Routes: 20})
	data, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(h.dir, "policy.yaml")
	if err := os.WriteFile(policyFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(h.dir, "sidecar.log")
	admin := freeAddr(t)
	p := h.start("sidecar", "sidecar", "--policy", policyFile, "--upstream", freeAddr(t), "--listen", freeAddr(t),
		"--admin", admin, "--audit-file", filepath.Join(h.dir, "audit.jsonl"), "--drain-delay", "0s")
	alive := func() error {
		select {
		case <-p.done:
			return fmt.Errorf("sidecar exited: %v", p.err)
		default:
			return nil
		}
	}
	// The process has used 0.3 s of CPU, far more than the runtime and
	// the package initialisations take, and has not loaded the policy
	// yet: it is loading it.
	loading := false
	h.until("the sidecar loading its policy", func() (bool, string) {
		if err := alive(); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), "policy loaded") {
			return true, ""
		}
		n := cpuTicks(p.cmd.Process.Pid)
		loading = n >= 30
		return loading, fmt.Sprintf("%d ticks of CPU", n)
	})
	if !loading {
		t.Skip("the policy loaded before the test could signal during the load")
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	h.until("the SIGHUP of the load reloading the policy", func() (bool, string) {
		if err := alive(); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), `"revision":2`), tail(string(b), 400)
	})
	if code := h.status("http://" + admin + "/healthz"); code != 200 {
		t.Errorf("after SIGHUP during the load: /healthz %d, want 200", code)
	}
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v, want exit 0", err)
	}
}

// A storm of SIGHUPs at a file-mode sidecar, going on through its
// SIGTERM: it reloads while serving and then stops cleanly, exit 0,
// never killed by a SIGHUP that lands while it stops.
func TestHangupStormThroughStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	policyFile, _ := h.examplePolicy()
	for round := range 5 {
		name := "sidecar-" + strconv.Itoa(round)
		admin := freeAddr(t)
		p := h.start(name, "sidecar", "--policy", policyFile, "--upstream", freeAddr(t), "--listen", freeAddr(t),
			"--admin", admin, "--audit-file", filepath.Join(h.dir, name+".jsonl"), "--drain-delay", "0s")
		h.serving(name+" up", "http://"+admin+"/healthz")
		stop := make(chan struct{})
		stormed := make(chan struct{})
		go func() {
			defer close(stormed)
			for {
				select {
				case <-stop:
					return
				case <-p.done:
					return
				default:
				}
				p.cmd.Process.Signal(syscall.SIGHUP)
				time.Sleep(50 * time.Microsecond)
			}
		}()
		h.until(name+" reloading in the storm", func() (bool, string) {
			b, _ := os.ReadFile(filepath.Join(h.dir, name+".log"))
			return strings.Contains(string(b), `"revision":3`), tail(string(b), 400)
		})
		err := p.signal(t, syscall.SIGTERM)
		close(stop)
		<-stormed
		if err != nil {
			t.Fatalf("%s: SIGTERM in a SIGHUP storm: %v, want exit 0", name, err)
		}
	}
}
