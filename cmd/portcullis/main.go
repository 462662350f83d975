// Command portcullis is the Portcullis API-security sidecar and its tools:
// one binary with subcommands. It only wires packages together; the logic
// lives in the library packages.
//
// Every command and group answers --help (exit 0); see cli.go for the
// style they share.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one command or subcommand: run gets the arguments after its
// name and returns the process exit code. A group ("keys") has its
// subcommands in sub; an etcd subcommand ("keys revoke") has its etcdCmd in
// etcd, for the tests.
type command struct {
	run     func(args []string) int
	summary string
	sub     group
	etcd    *etcdCmd
}

// group is the subcommands of a command ("policy validate", "keys
// generate") by their last word.
type group map[string]command

// commandTable returns every command of portcullis by name: the one place
// a command is added. A group's subcommands are listed in the file of
// the group (keys.go: keysCommands). It is built afresh on each call, as a
// function rather than a variable: the commands' help looks summaries up
// in it.
func commandTable() map[string]command {
	return map[string]command{
		"alerts":    newGroup("alerts", "list, show, acknowledge and close detection alerts", alertsCommands()),
		"approvals": newGroup("approvals", "two-person approvals for privileged routes: request, grant, deny, list, show", approvalsCommands()),
		"audit":     newGroup("audit", "audit store tools: keygen, query, verify", auditCommands()),
		"clients":   newGroup("clients", "list, suspend and resume clients", clientsCommands()),
		"collector": {run: runCollector, summary: "receive audit batches (OTLP/HTTP) into tamper-evident storage"},
		"dev":       {run: runDev, summary: "run etcd, the collector, the demo service and a sidecar on one machine"},
		"evidence":  newGroup("evidence", "build, verify and approve the evidence pack of a period", evidenceCommands()),
		"events":    newGroup("events", "list lifecycle events (policy pushes, key and client changes)", eventsCommands()),
		"incident":  newGroup("incident", "contain, assess and report a compromised integration", incidentCommands()),
		"inject":    {run: runInject, summary: "add the sidecar to the workloads of a Kubernetes manifest (offline, like istioctl kube-inject)"},
		"injector":  {run: runInjector, summary: "run the Kubernetes mutating admission webhook that adds the sidecar to pods"},
		"keys":      newGroup("keys", "generate, create, rotate, revoke, list and show API keys", keysCommands()),
		"members":   newGroup("members", "list the live sidecars and the policy each enforces", membersCommands()),
		"review":    newGroup("review", "worksheets and sign-offs of the periodic reviews (access, logs, tabletop)", reviewCommands()),
		"policy":    newGroup("policy", "validate, push, get, diff and history of the policy document", policyCommands()),
		"sidecar":   {run: runSidecar, summary: "run the enforcing sidecar in front of one service"},
		"tenants":   newGroup("tenants", "tenants by share of traffic and throttling, from the audit trail", tenantsCommands()),
		"upstream":  {run: runUpstream, summary: "run the demo service (used by make demo and the tests)"},
		"wait":      {run: runWait, summary: "wait for a duration (a legacy sidecar's preStop hook) or until an address listens (its postStart hook)"},
		"version":   {run: func(args []string) int { return runVersion(args, stdout, os.Stderr) }, summary: "print the version, commit and Go version of this binary"},
	}
}

// newGroup makes the command name dispatching to the subcommands in g.
func newGroup(name, summary string, g group) command {
	return command{
		run:     func(args []string) int { return g.dispatch(name, summary, args, stdout, os.Stderr) },
		summary: summary,
		sub:     g,
	}
}

// dispatch runs the subcommand args[0]: --help lists the subcommands on
// stdout (exit 0), a missing or unknown one is a usage error (exit 2).
func (g group) dispatch(name, summary string, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "portcullis %s: missing subcommand (want %s; see portcullis %s --help)\n", name, strings.Join(sortedNames(g), ", "), name)
		return 2
	}
	if isHelp(args[0]) {
		return writeOut(stdout, stderr, name, func(w io.Writer) { g.usage(w, name, summary) })
	}
	c, ok := g[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "portcullis %s: unknown subcommand %q (want %s; see portcullis %s --help)\n", name, args[0], strings.Join(sortedNames(g), ", "), name)
		return 2
	}
	return c.run(args[1:])
}

func (g group) usage(w io.Writer, name, summary string) {
	fmt.Fprintf(w, "usage: portcullis %s <subcommand> [flags]\n\n%s\n\nsubcommands:\n", name, summary)
	for _, n := range sortedNames(g) {
		fmt.Fprintf(w, "  %-10s %s\n", n, g[n].summary)
	}
	fmt.Fprintf(w, "\nRun portcullis %s <subcommand> --help for its flags.\n", name)
}

// summaryOf returns the summary of a command or subcommand by its full
// name ("keys rotate"), or "".
func summaryOf(name string) string {
	t := commandTable()
	if g, sub, ok := strings.Cut(name, " "); ok {
		return t[g].sub[sub].summary
	}
	return t[name].summary
}

func sortedNames(m map[string]command) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

func dispatch(args []string) int {
	switch {
	case len(args) == 0:
		usage(os.Stderr)
		return 2
	case isHelp(args[0]):
		return writeOut(stdout, os.Stderr, "", usage)
	case args[0] == "help":
		if len(args) == 1 {
			return writeOut(stdout, os.Stderr, "", usage)
		}
		return dispatch(append(args[1:], "--help"))
	case args[0] == "--version" || args[0] == "-version":
		return dispatch([]string{"version"})
	}
	t := commandTable()
	c, ok := t[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "portcullis: unknown command %q (see portcullis --help)\n", args[0])
		return 2
	}
	return checkWritten(c.run(args[1:]), stdout, os.Stderr, commandName(t, args))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: portcullis <command> [flags]\n\ncommands:")
	t := commandTable()
	for _, n := range sortedNames(t) {
		fmt.Fprintf(w, "  %-10s %s\n", n, t[n].summary)
	}
	fmt.Fprintln(w, "\nRun portcullis <command> --help for its subcommands and flags.")
}

// writeOut runs print into a buffer and writes it to stdout in one write,
// returning the exit code: 0, or 1 with one line on stderr naming the
// command and the write error. Help, version and policy validate exited
// 0 when stdout was a full disk or a closed pipe and nothing was printed
// (TestOutputWriteErrorsExit1).
func writeOut(stdout, stderr io.Writer, name string, print func(io.Writer)) int {
	var b bytes.Buffer
	print(&b)
	if _, err := stdout.Write(b.Bytes()); err != nil {
		prefix := "portcullis"
		if name != "" {
			prefix += " " + name
		}
		fmt.Fprintf(stderr, "%s: cannot write to stdout: %v\n", prefix, err)
		return 1
	}
	return 0
}
