package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
)

// cgroupRootEnv points TestHelperPortcullis's cgroupRoot at a test's
// files: the commands then read the container's memory limit there.
const cgroupRootEnv = "PORTCULLIS_TEST_CGROUP_ROOT"

// cgroupSelfEnv points TestHelperPortcullis's cgroupSelf, the process's
// own cgroup (/proc/self/cgroup), at a test's file.
const cgroupSelfEnv = "PORTCULLIS_TEST_CGROUP_SELF"

// memLimitLine is the log line setGoMemoryLimit writes.
type memLimitLine struct {
	Level, Message, From, Error string
	GoMemoryLimit               int64 `json:"go_memory_limit"`
	ContainerMemoryLimit        int64 `json:"container_memory_limit"`
}

// fakeCgroup writes a cgroup directory as a container sees it, with
// content in memory.max (cgroup v2) or, with v1 set, in
// memory/memory.limit_in_bytes, and returns it and the file.
func fakeCgroup(t *testing.T, v1 bool, content string) (root, file string) {
	t.Helper()
	root = t.TempDir()
	file = filepath.Join(root, "memory.max")
	if v1 {
		file = filepath.Join(root, "memory", "memory.limit_in_bytes")
		if err := os.Mkdir(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(file, []byte(content), 0o444); err != nil {
		t.Fatal(err)
	}
	return root, file
}

// cgroupEnv is this process's environment without GOMEMLIMIT, with the
// cgroup root and extra added.
func cgroupEnv(root string, extra ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "GOMEMLIMIT=") {
			env = append(env, e)
		}
	}
	return append(append(env, cgroupRootEnv+"="+root), extra...)
}

// waitMemLimitLine waits for the line about the Go memory limit in a
// command's output.
func waitMemLimitLine(t *testing.T, what string, out *lockedBuffer) memLimitLine {
	t.Helper()
	var found memLimitLine
	pollUntil(t, obsWait, what+"'s line about the Go memory limit", func() (bool, string) {
		for l := range strings.SplitSeq(out.String(), "\n") {
			var line memLimitLine
			if json.Unmarshal([]byte(l), &line) == nil && strings.Contains(line.Message, "Go memory limit") {
				found = line
				return true, ""
			}
		}
		return false, out.String()
	})
	return found
}

// startSidecarChild runs `portcullis sidecar` on the example policy as a
// process with env and returns its admin address and output.
func startSidecarChild(t *testing.T, env []string) (admin string, out *lockedBuffer) {
	t.Helper()
	admin = freeAddr(t)
	out = startChild(t, "", env, true, "sidecar", "--policy", "../../examples/policy.yaml", "--upstream", freeAddr(t),
		"--listen", freeAddr(t), "--admin", admin, "--spool", t.TempDir(), "--drain-delay", "0s")
	poll(t, "the sidecar's admin listener", func() bool { return get(t, "http://"+admin+"/healthz", "") == 200 })
	return admin, out
}

// The sidecar, the collector and the injector set the Go runtime's memory
// limit to 90% of the container's (cgroup v2's memory.max, v1's
// memory.limit_in_bytes), and say so: with none, the garbage collector let
// the heap grow to twice the live heap whatever the limit, and the
// injector's 128Mi could not hold eight 4 MiB reviews at once (60-68 MiB
// live, TestWebhookBoundsConcurrentMemory). The sidecar's
// go_gc_gomemlimit_bytes shows it. Each runs as a process, reading the
// files of a cgroup directory of the test's.
func TestServersSetGoMemoryLimitFromCgroup(t *testing.T) {
	t.Parallel()
	t.Run("sidecar", func(t *testing.T) {
		t.Parallel()
		root, file := fakeCgroup(t, false, "268435456\n") // 256Mi
		admin, out := startSidecarChild(t, cgroupEnv(root))
		const want = 268435456 - 26843545
		if got := value(scrapeFamilies(t, admin), "go_gc_gomemlimit_bytes"); got != want {
			t.Errorf("go_gc_gomemlimit_bytes %v under a 256Mi limit, want %d (90%%)", got, want)
		}
		if l := waitMemLimitLine(t, "the sidecar", out); l.Level != "info" || l.GoMemoryLimit != want || l.ContainerMemoryLimit != 268435456 || l.From != file {
			t.Errorf("log line %+v; want info: %d of %d from %s", l, int64(want), 268435456, file)
		}
	})
	t.Run("collector", func(t *testing.T) {
		t.Parallel()
		root, file := fakeCgroup(t, true, "1073741824\n") // the kustomize base's 1Gi, cgroup v1
		dir := t.TempDir()
		key, tokens := filepath.Join(dir, "signing.key"), filepath.Join(dir, "tokens")
		if err := collector.GenerateKey(key); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tokens, []byte("s1 memlimit-test-collector-token-0123456789abcdef\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out := startChild(t, "", cgroupEnv(root), true, "collector", "--listen", freeAddr(t), "--data", filepath.Join(dir, "data"),
			"--signing-key", key, "--token-file", tokens)
		const want = 1073741824 - 107374182
		if l := waitMemLimitLine(t, "the collector", out); l.Level != "info" || l.GoMemoryLimit != want || l.From != file {
			t.Errorf("log line %+v; want info: %d from %s", l, int64(want), file)
		}
		poll(t, "the collector to listen", func() bool { return strings.Contains(out.String(), "collector listening") })
	})
	t.Run("injector", func(t *testing.T) {
		t.Parallel()
		root, file := fakeCgroup(t, false, "134217728\n") // the kustomize base's 128Mi
		pki := newTestPKI(t)
		out := startChild(t, "", cgroupEnv(root), true, "injector", "--listen", "127.0.0.1:0", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey)
		const want = 134217728 - 13421772
		if l := waitMemLimitLine(t, "the injector", out); l.Level != "info" || l.GoMemoryLimit != want || l.From != file {
			t.Errorf("log line %+v; want info: %d from %s", l, int64(want), file)
		}
		poll(t, "the injector to serve", func() bool { return strings.Contains(out.String(), "injector serving") })
	})
}

// A sidecar in a container that sees the host's cgroup hierarchy
// (cgroupns=host) finds its limit where /proc/self/cgroup says its cgroup
// is, and its pod's smaller one on the parent, and sets 90% of the least.
// Before, it read only the hierarchy's root, found no memory.max there and
// set no Go memory limit.
func TestSidecarGoMemoryLimitFromOwnCgroup(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	pod := filepath.Join(root, "kubepods.slice", "pod1")
	for dir, limit := range map[string]string{pod: "268435456\n", filepath.Join(pod, "ctr"): "536870912\n"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(limit), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	self := filepath.Join(t.TempDir(), "cgroup")
	if err := os.WriteFile(self, []byte("0::/kubepods.slice/pod1/ctr\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	admin, out := startSidecarChild(t, cgroupEnv(root, cgroupSelfEnv+"="+self))
	const want = 268435456 - 26843545
	if got := value(scrapeFamilies(t, admin), "go_gc_gomemlimit_bytes"); got != want {
		t.Errorf("go_gc_gomemlimit_bytes %v under the pod's 256Mi, want %d (90%%)", got, want)
	}
	if l, file := waitMemLimitLine(t, "the sidecar", out), filepath.Join(pod, "memory.max"); l.Level != "info" || l.GoMemoryLimit != want || l.From != file {
		t.Errorf("log line %+v; want info: %d from %s", l, int64(want), file)
	}
}

// GOMEMLIMIT is the operator's: a sidecar given it keeps it, and says
// where its limit came from, whatever the container's limit.
func TestOperatorGOMEMLIMITWins(t *testing.T) {
	t.Parallel()
	root, _ := fakeCgroup(t, false, "268435456\n")
	admin, out := startSidecarChild(t, cgroupEnv(root, "GOMEMLIMIT=300MiB"))
	if got := value(scrapeFamilies(t, admin), "go_gc_gomemlimit_bytes"); got != 300<<20 {
		t.Errorf("go_gc_gomemlimit_bytes %v with GOMEMLIMIT=300MiB, want %d", got, 300<<20)
	}
	if l := waitMemLimitLine(t, "the sidecar", out); l.GoMemoryLimit != 300<<20 || l.From != "GOMEMLIMIT" {
		t.Errorf("log line %+v; want %d from GOMEMLIMIT", l, 300<<20)
	}
}

// A limit file the sidecar cannot make sense of sets no limit, with a warn
// line naming the file and why; the sidecar serves.
func TestGarbageCgroupLimitSetsNone(t *testing.T) {
	t.Parallel()
	root, file := fakeCgroup(t, false, "128Mi\n")
	admin, out := startSidecarChild(t, cgroupEnv(root))
	if got := value(scrapeFamilies(t, admin), "go_gc_gomemlimit_bytes"); got != math.MaxInt64 {
		t.Errorf("go_gc_gomemlimit_bytes %v from a memory.max of 128Mi, want none (%d)", got, int64(math.MaxInt64))
	}
	if l := waitMemLimitLine(t, "the sidecar", out); l.Level != "warn" || !strings.Contains(l.Error, file) || !strings.Contains(l.Error, `"128Mi"`) {
		t.Errorf("log line %+v; want a warn line whose error names %s and its content", l, file)
	}
}
