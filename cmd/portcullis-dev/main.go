// Command portcullis-dev is the etcd server of `portcullis dev`: a
// single-member etcd on free loopback ports with its data in --data. It is
// a binary of its own so that the portcullis binary, which every sidecar
// runs, does not link the etcd server (raft, bbolt); `portcullis dev` finds
// it next to itself or in PATH and runs it as a child process.
//
// When etcd serves, it prints one line to stdout, "etcd " and the client
// endpoints joined by commas. It stops on SIGTERM or SIGINT, and when its
// standard input reaches end of file, so that it never outlives the
// `portcullis dev` that started it (even one killed with SIGKILL, since
// the pipe closes with the process).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/portcullis/portcullis/internal/devetcd"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("portcullis-dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "`directory` of the etcd data (required)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *data == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "portcullis-dev: want --data DIRECTORY and no arguments (portcullis dev runs this binary; see portcullis dev --help)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, *data, stdin, stdout); err != nil {
		fmt.Fprintf(stderr, "portcullis-dev: %v\n", err)
		return 1
	}
	return 0
}

// serve runs etcd in dir until ctx ends or stdin reaches end of file.
func serve(ctx context.Context, dir string, stdin io.Reader, stdout io.Writer) error {
	srv, err := devetcd.Start(dir)
	if err != nil {
		return err
	}
	defer srv.Close()
	if _, err := fmt.Fprintf(stdout, "etcd %s\n", strings.Join(srv.Endpoints(), ",")); err != nil {
		return fmt.Errorf("cannot report the etcd endpoints: %w", err)
	}
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin) // returns at end of file: the parent is gone
		close(eof)
	}()
	select {
	case <-ctx.Done():
	case <-eof:
	}
	return nil
}
