package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// helperEnv makes the test binary run portcullis itself: TestHelperPortcullis
// then calls dispatch with the arguments after "--" and exits with its code.
// So the tests run every command as a process, with its real stdout, stderr
// and exit code, without a separate build.
const helperEnv = "PORTCULLIS_TEST_HELPER"

func TestHelperPortcullis(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("runs only as the portcullis helper process")
	}
	// The container's memory limit is read from a test's files, else
	// from none: a line about the host's limit would differ from machine
	// to machine in the servers' logs the tests read.
	cgroupRoot = "/nonexistent"
	if root := os.Getenv(cgroupRootEnv); root != "" {
		cgroupRoot = root
	}
	if self := os.Getenv(cgroupSelfEnv); self != "" {
		cgroupSelf = self
	}
	i := slices.Index(os.Args, "--")
	os.Exit(dispatch(os.Args[i+1:]))
}

// result is what one portcullis process did.
type result struct {
	code           int
	stdout, stderr string
}

// portcullis runs `portcullis args...` as a process in dir ("" for the
// package directory) with env added to the environment.
func portcullis(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperPortcullis$", "--"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), helperEnv+"=1"), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("portcullis %q: %v", args, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errOut.String()}
}

// portcullisWithin is portcullis with a deadline: a command still running
// after d is killed and reported as frozen, rather than holding the test.
func portcullisWithin(t *testing.T, d time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^TestHelperPortcullis$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Run()
	if ctx.Err() != nil {
		t.Errorf("portcullis %s still running after %v: frozen", strings.Join(args, " "), d)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errOut.String()}
}

// portcullisStdin is portcullisWithin with stdin read from the string
// in, and a minute before it calls the command frozen: a process taking
// 65 MiB through a pipe on a loaded 2-core CI machine took more than 20s
// (TestInjectInputIsCapped failed so in CI while it worked).
func portcullisStdin(t *testing.T, in string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^TestHelperPortcullis$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(in), &out, &errOut
	cmd.Run()
	if ctx.Err() != nil {
		t.Errorf("portcullis %s still running after a minute: frozen", strings.Join(args, " "))
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errOut.String()}
}

// allCommandPaths returns every command and subcommand, as argument lists.
func allCommandPaths() [][]string {
	var paths [][]string
	t := commandTable()
	for _, name := range sortedNames(t) {
		paths = append(paths, []string{name})
		for _, sub := range sortedNames(t[name].sub) {
			paths = append(paths, []string{name, sub})
		}
	}
	return paths
}

// Every command and group answers --help on stdout with exit 0, in one
// style: a usage line naming it, and (for a command) its flags as --name.
func TestHelpEverywhere(t *testing.T) {
	t.Parallel()
	cases := [][]string{{"--help"}, {"-h"}, {"help"}, {"help", "keys", "rotate"}}
	for _, p := range allCommandPaths() {
		cases = append(cases, append(slices.Clone(p), "--help"))
	}
	if len(cases) < 30 {
		t.Fatalf("only %d help cases: the command registry looks empty", len(cases))
	}
	for _, args := range cases {
		r := portcullis(t, "", nil, args...)
		path := strings.Join(slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "help" || strings.HasPrefix(a, "-") }), " ")
		want := "usage: portcullis " + path
		if path == "" {
			want = "usage: portcullis <command>"
		}
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, want) {
			t.Errorf("portcullis %s = exit %d, stdout %q, stderr %q; want exit 0 and stdout starting %q", strings.Join(args, " "), r.code, r.stdout, r.stderr, want)
			continue
		}
		if !isGroup(path) && path != "" && !strings.Contains(r.stdout, "\nflags:\n") {
			t.Errorf("portcullis %s --help lists no flags:\n%s", path, r.stdout)
		}
		if strings.Contains(r.stdout, "deprecated") || strings.Contains(r.stdout, "--cacert") || strings.Contains(r.stdout, "--password") {
			t.Errorf("portcullis %s --help lists a deprecated flag spelling:\n%s", path, r.stdout)
		}
		if strings.Contains(r.stdout, "\n  -") && !strings.Contains(r.stdout, "\n  --") {
			t.Errorf("portcullis %s --help spells flags with one dash:\n%s", path, r.stdout)
		}
	}
}

// Usage errors are one line on stderr naming the problem and the fix, with
// exit 2 and nothing on stdout.
func TestUsageErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"sidecar", "--drain", "20", "--upstream", "127.0.0.1:1", "--policy", examplePolicy}, "--drain 20: use a unit, e.g. 20s"},
		{[]string{"sidecar", "--policy", examplePolicy}, "--upstream is required"},
		{[]string{"sidecar", "--policy", examplePolicy, "--upstream", "backend"}, "--upstream backend: want the service's host:port"},
		// Out of range, a service name or no host: the sidecar started and
		// answered every admitted request 502 (here it fails at its
		// --listen instead, exit 1, rather than serve for ever).
		{[]string{"sidecar", "--policy", examplePolicy, "--listen", "127.0.0.1:99999", "--upstream", "127.0.0.1:99999"}, "--upstream 127.0.0.1:99999: want the service's host:port"},
		{[]string{"sidecar", "--policy", examplePolicy, "--listen", "127.0.0.1:99999", "--upstream", "127.0.0.1:0"}, "--upstream 127.0.0.1:0: want the service's host:port"},
		{[]string{"sidecar", "--policy", examplePolicy, "--listen", "127.0.0.1:99999", "--upstream", "localhost:http"}, "--upstream localhost:http: want the service's host:port"},
		{[]string{"sidecar", "--policy", examplePolicy, "--listen", "127.0.0.1:99999", "--upstream", ":8081"}, "--upstream :8081: want the service's host:port"},
		{[]string{"sidecar", "--upstream", "127.0.0.1:1", "--policy", examplePolicy, "--log-level", "chatty"}, "--log-level chatty: want debug, info, warn or error"},
		{[]string{"audit", "query", "--data", data, "--decision", "nonsense"}, "--decision nonsense: unknown decision; want one of allowed,"},
		{[]string{"audit", "query", "--data", data, "--from", "yesterday"}, "--from yesterday: want a date (2026-12-01)"},
		{[]string{"audit", "query", "--data", data, "--format", "xml"}, "--format xml: want table, json or ocsf"},
		// A range whose end is not after its start selected nothing and said
		// so with exit 0, as if the period had no records.
		{[]string{"audit", "query", "--data", data, "--from", "2026-12-03", "--to", "2026-12-01"}, "--to 2026-12-01 is not after --from 2026-12-03"},
		{[]string{"tenants", "top", "--data", data, "--from", "2026-12-03", "--to", "2026-12-03"}, "--to 2026-12-03 is not after --from 2026-12-03"},
		{[]string{"incident", "assess", "--client", "c", "--data", data, "--from", "2026-12-03", "--to", "2026-12-01"}, "--to 2026-12-01 is not after --from 2026-12-03"},
		{[]string{"audit", "query"}, "--data is required; name the collector's data directory"},
		// A mistyped or cut --expect-head was reported as TAMPERED, "the store
		// was rolled back", a false alarm about an intact store.
		{[]string{"audit", "verify", "--data", data, "--public-key", "k.pub", "--expect-head", "2781e09a6167"}, "--expect-head 2781e09a6167: want the 64 hex digits of a signed head's hash"},
		{[]string{"evidence", "pack", "--period", "2026-12", "--data", data, "--out", data, "--policy", examplePolicy, "--public-key", "k.pub", "--expect-head", "zz"}, "--expect-head zz: want the 64 hex digits"},
		{[]string{"audit", "query", "--status", "abc", "--data", data}, "--status abc: not a number"},
		{[]string{"keys", "list", "--actor", "alice"}, "unknown flag --actor"},
		{[]string{"policy", "get", "--reason", "x"}, "unknown flag --reason"},
		{[]string{"policy", "history", "--limit", "-1"}, "--limit -1: want 0 (all) or more"},
		// A negative --expect-revision pushed without the check it asked
		// for, and a --status no response has matched no record, exit 0.
		{[]string{"policy", "push", examplePolicy, "--expect-revision", "-5"}, "--expect-revision -5: want the revision"},
		{[]string{"audit", "query", "--data", data, "--status", "-5"}, "--status -5: want an HTTP status, 100-599"},
		{[]string{"audit", "query", "--data", data, "--status", "2000"}, "--status 2000: want an HTTP status, 100-599"},
		// The leading slash forgotten: nothing was found there, and the
		// lists were empty, exit 0, as if the deployment had none.
		{[]string{"keys", "list", "--prefix", "portcullis/default"}, `--prefix "portcullis/default": want an etcd key prefix that starts with /`},
		{[]string{"members", "list", "--prefix", ""}, `--prefix "": want an etcd key prefix`},
		{[]string{"sidecar", "--etcd", "127.0.0.1:1", "--upstream", "127.0.0.1:1", "--listen", "127.0.0.1:99999", "--prefix", "/a b"}, `--prefix "/a b": want`},
		{[]string{"events", "list", "--ticket", "x"}, "unknown flag --ticket"},
		{[]string{"keys", "create", "--client", "c", "--ttl", "forever"}, "--ttl forever: want a duration such as 20s, 15m, 24h or 90d"},
		{[]string{"keys", "rotate"}, "missing ID"},
		{[]string{"keys", "show", "a", "b"}, `unexpected argument "b"`},
		{[]string{"policy", "validate"}, "missing FILE"},
		{[]string{"keys", "generate", "--client"}, "--client needs a value"},
		{[]string{"events", "list", "--since", "last week"}, "--since last week: want an age (24h, 7d)"},
		{[]string{"policy"}, "missing subcommand (want diff, get, history, push, validate"},
		{[]string{"policy", "frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		r := portcullis(t, "", nil, tt.args...)
		lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
		if r.code != 2 || r.stdout != "" || len(lines) != 1 || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stderr, "<nil>") {
			t.Errorf("portcullis %s = exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", strings.Join(tt.args, " "), r.code, r.stdout, r.stderr, tt.want)
		}
	}
}

// audit query takes a date for --from and --to; a date is not a usage error.
func TestAuditQueryAcceptsDates(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"2026-12-01", "2026-12-01T10:00:00Z", "2026-12-01T10:00:00.5+02:00", "2026-12-01T10:00"} {
		if _, err := parseTimeFlag("from", v); err != nil {
			t.Errorf("parseTimeFlag(%q) = %v", v, err)
		}
	}
	got, _ := parseTimeFlag("from", "2026-12-01")
	if want := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("--from 2026-12-01 = %v, want %v", got, want)
	}
	r := portcullis(t, "", nil, "audit", "query", "--data", t.TempDir(), "--from", "2026-12-01", "--to", "2026-12-02")
	if r.code == 2 || strings.Contains(r.stderr, "--from") {
		t.Errorf("audit query --from 2026-12-01 = exit %d, stderr %q; want the date accepted", r.code, r.stderr)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"90d", 90 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"20s", 20 * time.Second, ""},
		{"1.5h", 90 * time.Minute, ""},
		{"0", 0, ""},
		{"-2d", -48 * time.Hour, ""},
		{"20", 0, "use a unit, e.g. 20s"},
		{"1.5", 0, "use a unit, e.g. 1.5s"},
		{"d", 0, "want a duration"},
		{"5dd", 0, "want a duration"},
		{"forever", 0, "want a duration"},
		{"99999999999d", 0, "99999999999 days is too long: at most 36500d"},
		{"36501d", 0, "36501 days is too long: at most 36500d"},
	} {
		got, err := parseDuration(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseDuration(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// Days and a duration past time.Duration's 292 years wrapped around: a
// negative --drain of -36500d2562047h became 192 years and was taken
// without a word (and `wait` waited them), a positive --ttl was called
// negative. Each is now a usage error naming the flag.
func TestDurationOverflowRefused(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"36500d2562047h", "-36500d2562047h", "1d2562047h"} {
		if got, err := parseDuration(in); err == nil || !strings.Contains(err.Error(), "too long") {
			t.Errorf("parseDuration(%q) = %v, %v; want error \"too long\"", in, got, err)
		}
	}
	r := portcullis(t, "", nil, "sidecar", "--upstream", "127.0.0.1:1", "--policy", examplePolicy, "--listen", "999.0.0.1:1", "--drain", "-36500d2562047h")
	if want := "--drain -36500d2562047h: "; r.code != 2 || !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("portcullis sidecar --drain -36500d2562047h = exit %d, stderr %q; want exit 2 and one line with %q", r.code, r.stderr, want)
	}
}

// Every duration flag takes days, including those registered with
// fs.DurationVar: keys generate --ttl 90d.
func TestDurationFlagsTakeDays(t *testing.T) {
	t.Parallel()
	r := portcullis(t, "", nil, "keys", "generate", "--client", "acme-hris", "--not-before", "2026-01-01T00:00:00Z", "--ttl", "90d")
	if r.code != 0 || !strings.Contains(r.stdout, `not_after: "2026-04-01T00:00:00Z"`) {
		t.Errorf("keys generate --ttl 90d = exit %d, stdout %q, stderr %q; want not_after 90 days on", r.code, r.stdout, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := portcullis(t, "", nil, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "portcullis dev (commit ") || !strings.Contains(r.stdout, "go1.") {
			t.Errorf("portcullis %s = exit %d, stdout %q, stderr %q", args[0], r.code, r.stdout, r.stderr)
		}
	}
}

// policy validate works from any directory and lists every problem.
func TestPolicyValidateEveryProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "p.yaml")
	os.WriteFile(bad, []byte("version: 1\ncolour: blue\ntenants: [{id: acme, limit: {rate: 5/s, burst: 0}}, {id: acme}]\n"), 0o600)
	r := portcullis(t, dir, nil, "policy", "validate", "p.yaml")
	for _, want := range []string{"p.yaml:2: field colour not found", "p.yaml:3: burst 0", `p.yaml:3: duplicate tenant "acme"`} {
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("policy validate = exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
		}
	}
}

// isGroup reports whether path ("keys", "keys rotate") names a command
// with subcommands.
func isGroup(path string) bool { return commandTable()[path].sub != nil }

// Out-of-range numbers on the sidecar's flags used to be taken without a
// word: --max-conns -1 became 10000 (no cap an operator asked for),
// --drain -1s cut every in-flight request at SIGTERM, --metrics-tenants -5
// named none. Each is now a usage error naming the flag.
func TestSidecarRefusesOutOfRangeNumbers(t *testing.T) {
	t.Parallel()
	// An address that cannot be listened on: without the check the
	// sidecar fails at once (exit 1) instead of serving.
	base := []string{"sidecar", "--upstream", "127.0.0.1:1", "--policy", examplePolicy, "--listen", "999.0.0.1:1"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-conns", "-1"}, "--max-conns -1: want 0 (sized to the memory limit) or more"},
		{[]string{"--max-conns-per-ip", "0"}, "--max-conns-per-ip 0: want at least 1"},
		{[]string{"--token-failures-per-ip", "0"}, "--token-failures-per-ip 0: want at least 1"},
		{[]string{"--upstream-max-conns", "0"}, "--upstream-max-conns 0: want at least 1"},
		{[]string{"--upstream-max-conns", "-3"}, "--upstream-max-conns -3: want at least 1"},
		{[]string{"--tenant-max-in-flight", "-1"}, "--tenant-max-in-flight -1: want 0 (half of --upstream-max-conns) to --upstream-max-conns (1024)"},
		{[]string{"--upstream-max-conns", "8", "--tenant-max-in-flight", "9"}, "--tenant-max-in-flight 9: want 0 (half of --upstream-max-conns) to --upstream-max-conns (8)"},
		{[]string{"--drain", "-1s"}, "--drain -1s: negative; a duration is 0s or more"},
		{[]string{"--drain-delay", "-5s"}, "--drain-delay -5s: negative; a duration is 0s or more"},
		{[]string{"--metrics-tenants", "-5"}, "--metrics-tenants -5: want 0 (none by name) or more"},
	} {
		r := portcullis(t, "", nil, append(base, tt.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("portcullis sidecar %s = exit %d, stderr %q; want exit 2 and one line with %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
}

// The collector's numbers likewise: --sign-every 0s or -1s silently
// signed every minute, and a negative batch or record bound silently
// became the default. Each is now a one-line usage error naming the flag.
func TestCollectorRefusesOutOfRangeNumbers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := []string{"collector", "--data", dir, "--signing-key", filepath.Join(dir, "missing.key"), "--token-file", filepath.Join(dir, "tokens"), "--listen", "999.0.0.1:1"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--sign-every", "0s"}, "--sign-every 0s: want more than 0s"},
		{[]string{"--sign-every", "-1s"}, "--sign-every -1s: negative; a duration is 0s or more"},
		// 1ns was taken, and an idle collector signed and wrote its head
		// in a loop (about 17% of a core).
		{[]string{"--sign-every", "1ns"}, "--sign-every 1ns: want at least 100ms"},
		{[]string{"--sign-every", "99ms"}, "--sign-every 99ms: want at least 100ms"},
		{[]string{"--max-batch-bytes", "-1"}, "--max-batch-bytes -1: want at least 1"},
		{[]string{"--max-batch-records", "-1"}, "--max-batch-records -1: want at least 1"},
		{[]string{"--max-record-bytes", "-1"}, "--max-record-bytes -1: want at least 1"},
		{[]string{"--max-inflight-bytes", "-1"}, "--max-inflight-bytes -1: want 0 (8 x --max-batch-bytes) or more"},
		{[]string{"--max-conns", "-1"}, "--max-conns -1: want 0 (fitted to the open-files limit) or more"},
		{[]string{"--segment-max-bytes", "-1"}, "--segment-max-bytes -1: want at least 1"},
		{[]string{"--segment-max-age", "-1h"}, "--segment-max-age -1h: negative; a duration is 0s or more"},
		{[]string{"--record-window", "-1m"}, "--record-window -1m: negative; a duration is 0s or more"},
		// A retention without a unit was a JSON error line at start, exit 1.
		{[]string{"--retention", "30"}, "--retention 30: want N days (400d), a duration (720h) or both (1d12h); 0 keeps all"},
		// A retention of 500ms was taken, and its entries recorded 0 s:
		// verify called every deletion a bad retention (TestSubSecondRetentionRefused).
		{[]string{"--retention", "500ms"}, "--retention 500ms is under one second (a retention entry records whole seconds); 0 keeps all"},
	} {
		r := portcullis(t, "", nil, append(base, tt.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("portcullis collector %s = exit %d, stderr %q; want exit 2 and one line with %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
}

// collector --help named its file and address flags VALUE, and --token-file
// as "NAME TOKEN", two words, where it takes one file.
func TestCollectorHelpNamesItsArguments(t *testing.T) {
	t.Parallel()
	r := portcullis(t, "", nil, "collector", "--help")
	for _, want := range []string{"--token-file FILE\n", "--data DIRECTORY\n", "--signing-key FILE\n", "--listen ADDRESS\n", "--tls-cert FILE\n", "--tls-key FILE\n", "--client-ca FILE\n", "--publish-head FILE\n", "--retention DURATION\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("collector --help lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(r.stdout, " VALUE\n") {
		t.Errorf("collector --help names an argument VALUE:\n%s", r.stdout)
	}
}

// sidecar --collector URL without --collector-token-file or
// --collector-cert started, reported ready and sent every batch without a
// credential, which the collector (it always requires one) refused: the
// audit trail silently stopped at the spool. It is now a usage error naming
// the credential flags.
func TestSidecarCollectorNeedsCredential(t *testing.T) {
	t.Parallel()
	base := []string{"sidecar", "--upstream", "127.0.0.1:1", "--policy", examplePolicy, "--listen", "999.0.0.1:1", "--spool", filepath.Join(t.TempDir(), "spool")}
	for _, args := range [][]string{
		{"--collector", "http://127.0.0.1:4318"},
		{"--collector", "https://127.0.0.1:4318", "--collector-cacert", "ca.pem"},
	} {
		r := portcullis(t, "", nil, append(base, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "--collector-token-file") || !strings.Contains(r.stderr, "--collector-cert") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("portcullis sidecar %s = exit %d, stderr %q; want exit 2 and one line naming --collector-token-file and --collector-cert", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// collector --retention 1d12h was refused although every other duration
// flag takes days with hours (README: --for 1d12h). --retention and
// evidence pack --retention now take the same; still no negative or bare
// number.
func TestRetentionTakesDaysWithHours(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]time.Duration{"1d12h": 36 * time.Hour, "400d": 400 * 24 * time.Hour, "720h": 720 * time.Hour, "0": 0, "2d30m": 48*time.Hour + 30*time.Minute} {
		if got, err := collector.ParseRetention(s); err != nil || got != want {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"-1d", "1d-12h", "30", "d", "1dd", "-5h", "1.5d"} {
		if got, err := collector.ParseRetention(s); err == nil {
			t.Errorf("ParseRetention(%q) = %v, want an error", s, got)
		}
	}
	dir := t.TempDir()
	// Accepted, the collector goes on to its signing key, which is missing: exit 1.
	r := portcullis(t, "", nil, "collector", "--data", dir, "--signing-key", filepath.Join(dir, "missing.key"), "--token-file", filepath.Join(dir, "tokens"),
		"--listen", "999.0.0.1:1", "--retention", "1d12h")
	if r.code != 1 || strings.Contains(r.stderr, "--retention") {
		t.Errorf("portcullis collector --retention 1d12h = exit %d, stderr %q; want the flag accepted (exit 1 on the missing key)", r.code, r.stderr)
	}

	// The evidence pack's --retention (and review start's, which shares
	// its flags) takes the same spellings, and refuses what the collector
	// refuses: it was taken as given, and the pack said in its
	// RetentionSettings file that the setting did not parse.
	data := t.TempDir()
	keyPath, _ := signingKeyFile(t)
	evidenceStore(t, data, keyPath, time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC))
	pack := func(retention string) result {
		return portcullis(t, "", nil, "evidence", "pack", "--period", "2026-Q2", "--data", data, "--signing-key", keyPath,
			"--policy", examplePolicy, "--out", t.TempDir(), "--retention", retention)
	}
	review := func(retention string) result {
		return portcullis(t, "", nil, "review", "start", "logs", "--period", "2026-Q2", "--data", data, "--signing-key", keyPath,
			"--policy", examplePolicy, "--out", filepath.Join(t.TempDir(), "logs.md"), "--retention", retention)
	}
	for _, run := range []func(string) result{pack, review} {
		if r := run("1d12h"); r.code != 0 || strings.Contains(r.stderr, "does not parse") {
			t.Errorf("--retention 1d12h = exit %d, stderr %q; want it accepted", r.code, r.stderr)
		}
		for _, bad := range []string{"1.5d", "30", "-1d"} {
			if r := run(bad); r.code != 2 || !strings.Contains(r.stderr, "--retention "+bad+": want N days") || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("--retention %s = exit %d, stderr %q; want exit 2 and one line naming --retention %s", bad, r.code, r.stderr, bad)
			}
		}
	}
}

// A negative duration was taken as "unknown flag --1s" by wait, and by
// every --timeout as a deadline already past (exit 1, "context deadline
// exceeded ... is etcd up?"). Each is now a usage error saying that the
// duration is negative.
func TestNegativeDurationsAreUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"wait", "-1s"},
		{"wait", "--", "-1s"},
		{"keys", "list", "--timeout", "-1s", "--etcd", "127.0.0.1:1"},
		{"events", "list", "--timeout=-5m", "--etcd", "127.0.0.1:1"},
		{"clients", "suspend", "acme-hris", "--for", "-1h", "--etcd", "127.0.0.1:1"},
		{"keys", "rotate", "k1", "--overlap", "-1d", "--etcd", "127.0.0.1:1"},
	} {
		r := portcullis(t, "", nil, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "-1") && !strings.Contains(r.stderr, "-5m") || !strings.Contains(r.stderr, "negative") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("portcullis %s = exit %d, stderr %q; want exit 2 and one line saying the duration is negative", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// upstream --listen bad said "demo upstream listening on bad" and then
// failed with "listen tcp4: address bad: missing port in address", which
// named neither the flag nor the address it could not use. It now fails
// with one line naming --listen and the address, and says it listens only
// once it does.
func TestUpstreamBadListenNamesAddress(t *testing.T) {
	t.Parallel()
	// An address of another host (TEST-NET-1): of the right form, so it
	// fails at the listen, not as a usage error (TestListenAddressOutOfRangeIsUsage).
	r := portcullis(t, "", nil, "upstream", "--listen", "192.0.2.1:0")
	if r.code != 1 || !strings.HasPrefix(r.stderr, `portcullis upstream: cannot listen on --listen "192.0.2.1:0": `) || strings.Contains(r.stderr, "listening") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("portcullis upstream --listen 192.0.2.1:0 = exit %d, stderr %q; want exit 1 and one line naming --listen \"192.0.2.1:0\"", r.code, r.stderr)
	}
}

// The sidecar and the collector failed on an address they could not
// listen on with "cannot listen on \"bad\"" (the sidecar's admin
// listener: "cannot listen on admin \"bad\""), which named no flag; the
// collector named --metrics-listen but not --listen. Each error line now
// names the flag, as upstream's does.
func TestBadListenNamesTheFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "signing.key")
	if r := portcullis(t, "", nil, "audit", "keygen", "--out", key); r.code != 0 {
		t.Fatalf("audit keygen: %s", r.stderr)
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("alpha listen-test-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sidecar := []string{"sidecar", "--policy", examplePolicy, "--upstream", "127.0.0.1:1", "--audit-file", filepath.Join(dir, "audit.jsonl")}
	for _, tt := range []struct {
		args []string
		want string
	}{
		// Addresses of another host (TEST-NET-1): of the right form, they
		// fail at the listen (a form no listener takes is a usage error:
		// TestListenAddressOutOfRangeIsUsage).
		{append(slices.Clone(sidecar), "--listen", "192.0.2.1:0"), `cannot listen on --listen \"192.0.2.1:0\"`},
		{append(slices.Clone(sidecar), "--listen", "127.0.0.1:0", "--admin", "192.0.2.1:0"), `cannot listen on --admin \"192.0.2.1:0\"`},
		{[]string{"collector", "--listen", "192.0.2.1:0", "--data", filepath.Join(dir, "data"), "--signing-key", key, "--token-file", tokens}, `cannot listen on --listen \"192.0.2.1:0\"`},
	} {
		r := portcullis(t, "", nil, tt.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("portcullis %s = exit %d, stderr %q; want exit 1 and an error line with %s", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
}

// Every command's error lines start "portcullis COMMAND: "; audit query
// and audit verify's --published-head errors started "audit query: " and
// "audit verify: ", which a log search or a wrapper script for the
// others missed.
func TestAuditErrorsNameTheCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"audit", "query", "--data", dir},
		// The head outside the store's directory, so that its read's error
		// is the one named (one inside is refused before it is read).
		{"audit", "verify", "--data", dir, "--public-key", keyFile + ".pub", "--published-head", filepath.Join(t.TempDir(), "missing-head.json")},
	} {
		r := portcullis(t, "", nil, args...)
		prefix := "portcullis " + args[0] + " " + args[1] + ": "
		if r.code != 1 || r.stderr == "" {
			t.Errorf("portcullis %s = exit %d, stderr %q; want exit 1 and an error", strings.Join(args, " "), r.code, r.stderr)
		}
		for _, line := range strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n") {
			if !strings.HasPrefix(line, prefix) {
				t.Errorf("portcullis %s: stderr line %q does not start %q", strings.Join(args, " "), line, prefix)
			}
		}
	}
}

// policy validate wrote a file it could not read (missing, a directory,
// empty stdin) as a bare "cannot read policy ..." line: only its problems,
// FILE:LINE: message, are written without the command's name.
func TestPolicyValidateReadErrorNamesTheCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	// An empty file was "FILE:1: version must be 1, got 0".
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, []byte("\n  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, file, want string }{
		{"", missing, `cannot read policy "` + missing + `"`},
		{"", dir, `cannot read policy "` + dir + `"`},
		{"", "-", "the policy on stdin is empty"},
		{"", empty, `cannot read policy "` + empty + `": the file is empty`},
	} {
		r := portcullisStdin(t, c.in, "policy", "validate", c.file)
		if want := "portcullis policy validate: " + c.want; r.code != 1 || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("policy validate %s = exit %d, stderr %q; want exit 1 and one line starting %q", c.file, r.code, r.stderr, want)
		}
	}
	if r := portcullisStdin(t, "routes: [\n", "policy", "validate", "-"); r.code != 1 || !strings.HasPrefix(r.stderr, "stdin:1: ") {
		t.Errorf("policy validate - < broken = exit %d, stderr %q; want exit 1 and its problems as stdin:LINE", r.code, r.stderr)
	}
}

// keys create --ttl 0s made a key valid for the policy's max_key_age (ten
// years in the example) and keys generate --ttl 0s one that never expires:
// 0 meant "not given". A key that expires at once is now a usage error.
func TestKeysRefuseZeroTTL(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"keys", "generate", "--client", "acme-hris", "--ttl", "0s"},
		{"keys", "create", "--client", "acme-hris", "--ttl", "0", "--etcd", "127.0.0.1:1", "--timeout", "2s", "--actor", "alice", "--reason", "r"},
	} {
		r := portcullis(t, "", nil, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "--ttl 0s: ") || strings.Contains(r.stdout, "pk_") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("portcullis %s = exit %d, stdout %q, stderr %q; want exit 2, no key and one line naming --ttl 0s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if r := portcullis(t, "", nil, "keys", "generate", "--client", "acme-hris"); r.code != 0 || !strings.Contains(r.stdout, "pk_") {
		t.Errorf("keys generate without --ttl = exit %d, stderr %q; want a key without expiry", r.code, r.stderr)
	}
}

// startChild runs portcullis args in a child process (this test binary as
// TestHelperPortcullis) in dir ("": the test's) with env (nil: this
// process's environment) and returns its output as it comes. When the
// test ends the child gets SIGTERM and must exit within a minute; with
// clean set it must also exit 0.
func startChild(t *testing.T, dir string, env []string, clean bool, args ...string) *lockedBuffer {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperPortcullis$", "--"}, args...)...)
	if env == nil {
		env = os.Environ()
	}
	cmd.Dir, cmd.Env = dir, append(env, helperEnv+"=1")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if clean && err != nil {
				t.Errorf("portcullis %s: %v\n%s", args[0], err, out.String())
			}
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			t.Errorf("portcullis %s did not stop on SIGTERM:\n%s", args[0], out.String())
		}
	})
	return out
}

// The servers log JSON lines on stderr, so a failure past their flag
// checks is not "portcullis CMD: ..." as the README said every error line
// is: it is one error line of the log, its message "sidecar failed" or
// "CMD stopped", the error in "error", and exit 1.
func TestServerFailuresAreOneJSONErrorLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("s1 0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args    []string
		message string
	}{
		{[]string{"sidecar", "--policy", missing, "--upstream", "127.0.0.1:1", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
			"--spool", filepath.Join(dir, "spool")}, "sidecar failed"},
		{[]string{"collector", "--data", filepath.Join(dir, "data"), "--signing-key", missing, "--token-file", tokens, "--listen", "127.0.0.1:0"}, "collector stopped"},
		{[]string{"injector", "--listen", "127.0.0.1:0", "--tls-cert", missing, "--tls-key", missing}, "injector stopped"},
	} {
		r := portcullis(t, "", nil, c.args...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		var last struct{ Level, Error, Message string }
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); r.code != 1 || err != nil || last.Level != "error" ||
			last.Message != c.message || !strings.Contains(last.Error, missing) {
			t.Errorf("portcullis %s = exit %d, stderr %q; want exit 1 and a last JSON line of level error, message %q, the error naming %s",
				c.args[0], r.code, r.stderr, c.message, missing)
		}
		for _, l := range lines {
			if strings.Contains(l, `"level":"error"`) != (l == lines[len(lines)-1]) {
				t.Errorf("portcullis %s: error line %q is not the one last line", c.args[0], l)
			}
		}
	}
}
