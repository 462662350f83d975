package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is the release version; a release build sets it with
// -ldflags "-X main.version=v1.2.3".
var version = "dev"

func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if _, code, ok := parseArgs(fs, args, "", 0, stdout, stderr); !ok {
		return code
	}
	return writeOut(stdout, stderr, fs.Name(), func(w io.Writer) { fmt.Fprintln(w, versionLine()) })
}

// versionLine is "portcullis VERSION (commit REV[, modified], GOVERSION OS/ARCH)".
func versionLine() string {
	commit := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = ", modified"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			commit = rev + dirty
		}
	}
	return fmt.Sprintf("portcullis %s (commit %s, %s %s/%s)", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
