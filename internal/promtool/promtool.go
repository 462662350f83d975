// Package promtool finds Prometheus' promtool for tests that check what
// the project hands to Prometheus: the /metrics exposition (promtool check
// metrics) and the rules of deploy/observability (promtool test rules).
//
// Path looks for promtool on PATH and, when it is missing and the test
// runs as root (as CI does), installs Debian's prometheus package with
// apt-get, once per process. Only when neither works does it skip the
// test, saying why. It is safe for concurrent use.
package promtool

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

var (
	once   sync.Once
	path   string
	whyNot string
)

// Path returns the path of promtool, installing it first when it is
// missing; it skips tb when promtool cannot be had.
func Path(tb testing.TB) string {
	tb.Helper()
	once.Do(func() { path, whyNot = find() })
	if path == "" {
		tb.Skipf("promtool is not installed and cannot be: %s", whyNot)
	}
	return path
}

// find returns promtool's path or why there is none. The test binaries
// of several packages run at once: a file lock makes one install while
// the others wait, then find what it installed.
func find() (string, string) {
	if p, err := exec.LookPath("promtool"); err == nil {
		return p, ""
	}
	if lock, err := os.OpenFile(filepath.Join(os.TempDir(), "portcullis-promtool.lock"), os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		defer lock.Close()
		syscall.Flock(int(lock.Fd()), syscall.LOCK_EX) // released by Close
		if p, err := exec.LookPath("promtool"); err == nil {
			return p, ""
		}
	}
	if os.Geteuid() != 0 {
		return "", "not root, so apt-get install prometheus cannot run (install Debian's prometheus package)"
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", "no apt-get on this machine to install Debian's prometheus package"
	}
	err := aptGet("install", "-y", "--no-install-recommends", "prometheus")
	if err != nil {
		// A fresh machine may have no package lists yet.
		if uerr := aptGet("update"); uerr != nil {
			return "", uerr.Error()
		}
		err = aptGet("install", "-y", "--no-install-recommends", "prometheus")
	}
	if err != nil {
		return "", err.Error()
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		return "", "the prometheus package installed no promtool on PATH"
	}
	return p, ""
}

// aptGet runs apt-get with args, waiting for a dpkg lock another test
// process may hold.
func aptGet(args ...string) error {
	cmd := exec.Command("apt-get", append([]string{"-o", "DPkg::Lock::Timeout=300", "-q"}, args...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		tail := out.Bytes()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("apt-get %v: %w: %s", args, err, tail)
	}
	return nil
}

// CheckMetrics runs promtool check metrics on page, a text exposition; a
// lint problem or parse error fails tb.
func CheckMetrics(tb testing.TB, page []byte) {
	tb.Helper()
	cmd := exec.Command(Path(tb), "check", "metrics")
	cmd.Stdin = bytes.NewReader(page)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		tb.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
