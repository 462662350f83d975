package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// devEtcdBinary is the program that runs the etcd server of `portcullis
// dev` (cmd/portcullis-dev). It is a binary of its own so that this one,
// which every sidecar runs, does not link the etcd server (issue 19 item
// 2; TestSidecarLinksNoEtcdServer).
const devEtcdBinary = "portcullis-dev"

// devEtcd is the running etcd of the dev stack.
type devEtcd struct {
	endpoints []string
	stop      func() // stops etcd and waits for it; the data stays
}

// startDevEtcd starts the etcd of the dev stack with its data in dir,
// running bin (findDevEtcd when ""). The tests of this package run the
// server in process instead (dev_etcd_test.go).
var startDevEtcd = execDevEtcd

// devEtcdStopWait bounds how long stopping waits for portcullis-dev to
// close etcd before killing it.
const devEtcdStopWait = 30 * time.Second

// devEtcdAbortWait bounds how long a start ended by ctx waits for the
// child, sent SIGTERM, before killing it: the user asked to stop, and an
// etcd that has not served yet holds nothing to close.
const devEtcdAbortWait = 5 * time.Second

// execDevEtcd runs portcullis-dev on dir and waits for the line that names
// its endpoints, or for ctx to end (SIGTERM): then the child is stopped
// and ctx's error returned. The wait was not cancellable, and dev did not
// stop on SIGTERM while a child that never printed ran
// (TestDevStopsWhileEtcdStarts). The child's stdin is a pipe: closing it
// stops the child, and it closes by itself if this process dies, so etcd
// never outlives it.
func execDevEtcd(ctx context.Context, bin, dir string) (*devEtcd, error) {
	if bin == "" {
		var err error
		if bin, err = findDevEtcd(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(bin, "--data", dir)
	cmd.Stderr = os.Stderr
	// Its own process group: a terminal's Ctrl-C goes to the whole
	// foreground group, and etcd stopped with dev, so the collector's
	// final head and the sidecar's goodbye found no etcd, and dev waited
	// on it, then logged "cannot publish the signed head"
	// (TestDevEtcdChildMissesTheTerminalsSignals). dev stops it last,
	// and the stdin pipe still ends it if dev dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("cannot make the stdin pipe of %q: %w", bin, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("cannot make the stdout pipe of %q: %w", bin, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot run %q: %w", bin, err)
	}
	stop := stopper(cmd, stdin, false, devEtcdStopWait)
	type line struct {
		endpoints []string
		err       error
	}
	read := make(chan line, 1)
	go func() {
		eps, err := readEndpoints(stdout) // ends when Wait closes stdout, at the latest
		read <- line{eps, err}
	}()
	select {
	case l := <-read:
		if l.err != nil {
			stop()
			return nil, fmt.Errorf("%s %q did not start etcd in %q (its error is above): %w", devEtcdBinary, bin, dir, l.err)
		}
		return &devEtcd{endpoints: l.endpoints, stop: stop}, nil
	case <-ctx.Done():
		stopper(cmd, stdin, true, devEtcdAbortWait)()
		return nil, fmt.Errorf("stopped while %s %q was starting etcd: %w", devEtcdBinary, bin, ctx.Err())
	}
}

// readEndpoints reads the "etcd <endpoints>" line portcullis-dev prints
// once etcd serves.
func readEndpoints(r io.Reader) ([]string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("no endpoints line: %w", err)
	}
	eps, ok := strings.CutPrefix(strings.TrimSpace(line), "etcd ")
	if !ok || eps == "" {
		return nil, fmt.Errorf("endpoints line %q does not start with \"etcd \"", line)
	}
	return strings.Split(eps, ","), nil
}

// stopper returns the function that stops cmd: it closes cmd's stdin,
// which makes portcullis-dev close etcd (with term, it sends SIGTERM too:
// portcullis-dev still starting reads no stdin), and waits; one that does
// not exit within wait is killed.
func stopper(cmd *exec.Cmd, stdin io.Closer, term bool, wait time.Duration) func() {
	return func() {
		stdin.Close() // the end of file is the signal to stop; an error means it is closed already
		if term {
			cmd.Process.Signal(syscall.SIGTERM) // an error means it has exited already
		}
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			cmd.Wait() // its exit status says nothing more than its stderr did
		}()
		select {
		case <-exited:
		case <-time.After(wait):
			cmd.Process.Kill() // the Wait above then returns
			<-exited
		}
	}
}

// findDevEtcd returns the path of portcullis-dev: next to this binary
// (make build puts both in bin/), else in PATH.
func findDevEtcd() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), devEtcdBinary)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(devEtcdBinary)
	if err != nil { // exec.ErrDot too: a binary found in the working directory is not run
		return "", fmt.Errorf("portcullis dev needs the %s binary (the etcd server it runs) next to portcullis or in PATH: build it with `make build` or `go install github.com/portcullis/portcullis/cmd/%s`, or name it with --etcd-bin", devEtcdBinary, devEtcdBinary)
	}
	return p, nil
}
