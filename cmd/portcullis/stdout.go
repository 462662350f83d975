package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// stdout is the standard output every command of the table writes its
// result to. It remembers the first write error, so that dispatch exits
// 1 naming it when the command itself did not notice: policy get, audit
// verify, tenants top and others printed into a full disk or a closed
// pipe and exited 0 (TestResultWriteErrorsExit1).
var stdout = &outWriter{w: os.Stdout}

// outWriter is a writer that remembers its first error and, after it,
// writes nothing more (the rest of a result cut short is no result). It
// is safe for concurrent use.
type outWriter struct {
	mu  sync.Mutex // guards the following fields
	w   io.Writer
	err error
}

// Write writes p, or returns the first error without writing once there
// has been one.
func (o *outWriter) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	o.err = err
	return n, err
}

// Err returns the first write error, or nil.
func (o *outWriter) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// writeErrorsOnBrokenPipe makes a write to a pipe whose reader has gone
// fail with EPIPE, as any failed write, where the SIGPIPE it raised killed
// the process without a word. The commands that change something call
// it, so that what they made and could not print is named (keys create
// made a key in etcd that nobody held, `| tool` exiting first:
// TestKeyNotPrintedToAClosedPipeIsNamed), and so do the servers, whose
// log lines go to stderr: the first line after their log reader went
// killed them, without the drain, the audit flush or the final signed
// head (TestServersSurviveAClosedLogPipe). The read-only commands keep
// dying quietly on SIGPIPE, at once, as `| head` expects.
func writeErrorsOnBrokenPipe() { signal.Ignore(syscall.SIGPIPE) }

// writeFailed returns the first write error of w when it is an
// outWriter, else nil.
func writeFailed(w io.Writer) error {
	if o, ok := w.(*outWriter); ok {
		return o.Err()
	}
	return nil
}

// checkWritten turns the exit code of a command that wrote to out into
// 1 when a write to out failed and the command exited 0, with one line on
// stderr naming the command and the write error.
func checkWritten(code int, out io.Writer, stderr io.Writer, name string) int {
	err := writeFailed(out)
	if err == nil || code != 0 {
		return code
	}
	fmt.Fprintf(stderr, "%s: cannot write to stdout: %v\n", strings.TrimSpace("portcullis "+name), err)
	return 1
}

// commandName returns the name of the command args run: "policy get"
// for a subcommand of a group, "sidecar" for a command.
func commandName(t map[string]command, args []string) string {
	c := t[args[0]]
	if len(args) > 1 && c.sub != nil {
		if _, ok := c.sub[args[1]]; ok {
			return args[0] + " " + args[1]
		}
	}
	return args[0]
}
