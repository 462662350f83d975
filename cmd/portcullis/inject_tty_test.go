//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the terminal end of a new pseudo-terminal; both ends
// close when the test ends.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("cannot open the terminal end: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}

// inject -f - run from a shell, without a pipe, waited for ever for a
// manifest typed in, without a word. A terminal as stdin is now a usage
// error saying to pipe the manifest in or name the file.
func TestInjectStdinTerminalRefused(t *testing.T) {
	t.Parallel()
	tty := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperPortcullis$", "--", "inject", "-f", "-")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	var errOut bytes.Buffer
	cmd.Stdin, cmd.Stderr = tty, &errOut
	cmd.Run()
	if ctx.Err() != nil {
		t.Fatal("inject -f - with a terminal as stdin still waiting after 10s")
	}
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(errOut.String(), "stdin, which is a terminal") || strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("inject -f - on a terminal = exit %d, stderr %q; want exit 2 and one line saying stdin is a terminal", code, errOut.String())
	}
}
