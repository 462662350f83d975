// Package debpkg finds the Debian tools the tests use where a user would
// (promtool, kubectl, chromium, zip, strace), installing the package that
// holds one when it is missing.
//
// Path looks for the tool on PATH and, when it is missing and the test
// runs as root with apt-get (as CI does), installs its Debian package,
// once per process and tool; an install that fails fails the test. Only
// where it cannot install (not root, no apt-get) does it skip the test,
// saying why: CI runs as root, so there none skips. It is safe for
// concurrent use, and across the test binaries of several packages at
// once (a file lock). Before, five tests each had their own copy of
// this, two of them skipping when the install failed.
package debpkg

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

type found struct {
	once   sync.Once
	path   string
	whyNot string
	skip   bool // whyNot is why it cannot be installed here, not a failed install
}

var tools sync.Map // tool name: *found

// Path returns the path of the tool named tool, installing Debian's
// package pkg first when it is missing (apt-get install -y, with
// aptArgs: "--no-install-recommends" for a package whose recommends the
// test does not need); it skips tb when the tool cannot be installed
// here, and fails it when the install fails.
func Path(tb testing.TB, tool, pkg string, aptArgs ...string) string {
	tb.Helper()
	v, _ := tools.LoadOrStore(tool, new(found))
	f := v.(*found)
	f.once.Do(func() { f.path, f.whyNot, f.skip = find(tool, pkg, aptArgs) })
	switch {
	case f.path != "":
	case f.skip:
		tb.Skipf("%s is not installed and cannot be: %s", tool, f.whyNot)
	default:
		tb.Fatalf("%s is not installed, and installing Debian's %s package failed: %s", tool, pkg, f.whyNot)
	}
	return f.path
}

// find returns the tool's path, or why there is none and whether that
// is because it cannot be installed here. A file lock makes one test
// process install while the others wait, then find what it installed.
func find(tool, pkg string, aptArgs []string) (path, whyNot string, skip bool) {
	if p, err := exec.LookPath(tool); err == nil {
		return p, "", false
	}
	if lock, err := os.OpenFile(filepath.Join(os.TempDir(), "portcullis-apt.lock"), os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		defer lock.Close()
		syscall.Flock(int(lock.Fd()), syscall.LOCK_EX) // released by Close
		if p, err := exec.LookPath(tool); err == nil {
			return p, "", false
		}
	}
	if os.Geteuid() != 0 {
		return "", fmt.Sprintf("not root, so apt-get install %s cannot run (install Debian's %s package)", pkg, pkg), true
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", fmt.Sprintf("no apt-get on this machine to install Debian's %s package", pkg), true
	}
	install := append(append([]string{"install", "-y"}, aptArgs...), pkg)
	err := aptGet(install...)
	if err != nil {
		// A fresh machine may have no package lists yet.
		if uerr := aptGet("update"); uerr != nil {
			return "", uerr.Error(), false
		}
		err = aptGet(install...)
	}
	if err != nil {
		return "", err.Error(), false
	}
	p, err := exec.LookPath(tool)
	if err != nil {
		return "", fmt.Sprintf("the %s package installed no %s on PATH", pkg, tool), false
	}
	return p, "", false
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
