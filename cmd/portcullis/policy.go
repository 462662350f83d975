package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/portcullis/portcullis/policy"
)

func init() {
	policyCmds["validate"] = command{
		run:     func(args []string) int { return policyValidate(args, os.Stdout, os.Stderr) },
		summary: "check a policy file: every problem as FILE:LINE: message",
	}
}

// policyValidate loads and compiles the policy file named in args. It exits
// 0 when valid, 1 with every problem on stderr, 2 on a usage error.
func policyValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policy validate", flag.ContinueOnError)
	pos, code, ok := parseArgs(fs, args, "FILE", 1, stdout, stderr)
	if !ok {
		return code
	}
	path := pos[0]
	snap, err := loadAndCompile(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (%d routes, %d clients, %d keys)\n", path, len(snap.Routes), len(snap.Clients), snap.KeyCount())
	return 0
}

// loadAndCompile loads the policy at path and compiles it with no live
// state, as file mode does. Compile errors are given the file name too.
func loadAndCompile(path string) (*policy.Snapshot, error) {
	doc, err := policy.LoadFile(path)
	if err != nil {
		return nil, err
	}
	snap, err := policy.Compile(doc, policy.Live{})
	if err != nil && !errors.Is(err, policy.ErrInvalid) {
		err = fmt.Errorf("%s:0: %w", path, err)
	}
	return snap, err
}
