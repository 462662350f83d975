package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

// An address of the stack already in use was found only once etcd ran,
// the policy was pushed and "dev stack up" printed with the export line;
// an --upstream in use was only logged ("demo service not started") and
// the sidecar forwarded what it admitted, identity headers and all, to
// whatever held that port. Now each is an error naming the flag before
// anything starts, and --data is not made.
func TestDevAddressInUseFailsBeforeStarting(t *testing.T) {
	if testing.Short() {
		t.Skip("may start etcd")
	}
	t.Parallel()
	for _, flag := range []string{"--upstream", "--listen", "--admin", "--collector"} {
		t.Run(flag, func(t *testing.T) {
			t.Parallel()
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			data := filepath.Join(t.TempDir(), "data")
			f := devFlags{data: data, listen: freeAddr(t), upstream: freeAddr(t), admin: freeAddr(t),
				collector: freeAddr(t), prefix: "/portcullis/test", logLevel: "warn"}
			addr := taken.Addr().String()
			*map[string]*string{"--listen": &f.listen, "--admin": &f.admin, "--upstream": &f.upstream, "--collector": &f.collector}[flag] = addr
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- dev(ctx, f, zerolog.New(&lockedBuffer{})) }()
			var got error
			poll(t, "dev to fail or start etcd", func() bool {
				select {
				case got = <-done:
					return true
				default:
				}
				if _, err := os.Lstat(filepath.Join(data, "etcd")); err == nil {
					cancel()
					got = errors.Join(errors.New("etcd started"), <-done)
					return true
				}
				return false
			})
			if want := flag + " " + addr; got == nil || !strings.Contains(got.Error(), want) || strings.Contains(got.Error(), "etcd started") {
				t.Errorf("dev with %s in use = %v; want an error naming %q before etcd starts", flag, got, want)
			}
			if _, err := os.Lstat(data); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("dev with %s in use made %s (err %v)", flag, data, err)
			}
		})
	}
}

// An address dev cannot listen on at all is a usage error naming its flag,
// before anything starts.
func TestDevAddressNotHostPortIsUsageError(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	r := portcullis(t, "", nil, "dev", "--data", data, "--listen", "nonsense")
	if want := "portcullis dev: --listen nonsense: want host:port"; r.code != 2 || !strings.HasPrefix(r.stderr, want) {
		t.Errorf("dev --listen nonsense = exit %d, stderr %q; want exit 2 starting %q", r.code, r.stderr, want)
	}
	if _, err := os.Lstat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dev --listen nonsense made %s (err %v)", data, err)
	}
}

// A terminal's Ctrl-C goes to its whole foreground process group: etcd,
// in dev's group, stopped with dev, so the collector's final head found
// no etcd, dev waited for it and logged "cannot publish the signed head".
// The child now has a group of its own, and dev stops it last.
func TestDevEtcdChildMissesTheTerminalsSignals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin, pidFile := filepath.Join(dir, "fake-portcullis-dev"), filepath.Join(dir, "pid")
	script := "#!/bin/sh\necho $$ > '" + pidFile + "'\necho etcd http://127.0.0.1:1\nexec cat >/dev/null\n"
	if err := os.WriteFile(bin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	e, err := execDevEtcd(context.Background(), bin, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.stop()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	child, err := syscall.Getpgid(pid)
	if err != nil {
		t.Fatal(err)
	}
	if own := syscall.Getpgrp(); child == own {
		t.Errorf("portcullis-dev (pid %d) is in dev's process group %d: a Ctrl-C stops etcd with dev", pid, own)
	}
}

// devArgs is `dev args...` with free addresses for the stack: dev now
// fails before anything else when the default ones are in use.
func devArgs(t *testing.T, args ...string) []string {
	t.Helper()
	return append(append([]string{"dev"}, args...),
		"--listen", freeAddr(t), "--upstream", freeAddr(t), "--admin", freeAddr(t), "--collector", freeAddr(t))
}
