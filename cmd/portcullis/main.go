// Command portcullis is the Portcullis API-security sidecar and its tools:
// one binary with subcommands. It only wires packages together; the logic
// lives in the library packages.
//
// Every command and group answers --help (exit 0); see cli.go for the
// style they share.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand: run gets the arguments after its name and
// returns the process exit code.
type command struct {
	run     func(args []string) int
	summary string
}

var commands = map[string]command{}

// groups are the commands with subcommands, by name.
var groups = map[string]group{}

// register adds a subcommand; files of this package call it from init.
func register(name, summary string, run func(args []string) int) {
	if _, dup := commands[name]; dup {
		panic("BUG: duplicate command " + name)
	}
	commands[name] = command{run: run, summary: summary}
}

// group is a command with subcommands ("policy validate", "keys generate").
// Files add their subcommands to a group's map from init.
type group map[string]command

// registerGroup registers name as a command dispatching to the subcommands in g.
func registerGroup(name, summary string, g group) {
	groups[name] = g
	register(name, summary, func(args []string) int { return g.dispatch(name, args, os.Stdout, os.Stderr) })
}

// dispatch runs the subcommand args[0]: --help lists the subcommands on
// stdout (exit 0), a missing or unknown one is a usage error (exit 2).
func (g group) dispatch(name string, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "portcullis %s: missing subcommand (want %s; see portcullis %s --help)\n", name, strings.Join(sortedNames(g), ", "), name)
		return 2
	}
	if isHelp(args[0]) {
		g.usage(stdout, name)
		return 0
	}
	c, ok := g[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "portcullis %s: unknown subcommand %q (want %s; see portcullis %s --help)\n", name, args[0], strings.Join(sortedNames(g), ", "), name)
		return 2
	}
	return c.run(args[1:])
}

func (g group) usage(w io.Writer, name string) {
	fmt.Fprintf(w, "usage: portcullis %s <subcommand> [flags]\n\n%s\n\nsubcommands:\n", name, commands[name].summary)
	for _, n := range sortedNames(g) {
		fmt.Fprintf(w, "  %-10s %s\n", n, g[n].summary)
	}
	fmt.Fprintf(w, "\nRun portcullis %s <subcommand> --help for its flags.\n", name)
}

// summaryOf returns the summary of a command or subcommand by its full
// name ("keys rotate"), or "".
func summaryOf(name string) string {
	if g, sub, ok := strings.Cut(name, " "); ok {
		return groups[g][sub].summary
	}
	return commands[name].summary
}

// Command groups shared by several files.
var (
	policyCmds  = group{}
	keysCmds    = group{}
	clientsCmds = group{}
)

func init() {
	registerGroup("policy", "validate, push, get, diff and history of the policy document", policyCmds)
	registerGroup("keys", "generate, create, rotate, revoke, list and show API keys", keysCmds)
	registerGroup("clients", "list, suspend and resume clients", clientsCmds)
	registerGroup("evidence", "build and verify the evidence pack of a period", evidenceCmds)
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
		usage(os.Stdout)
		return 0
	case args[0] == "help":
		if len(args) == 1 {
			usage(os.Stdout)
			return 0
		}
		return dispatch(append(args[1:], "--help"))
	case args[0] == "--version" || args[0] == "-version":
		return dispatch([]string{"version"})
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "portcullis: unknown command %q (see portcullis --help)\n", args[0])
		return 2
	}
	return c.run(args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: portcullis <command> [flags]\n\ncommands:")
	for _, n := range sortedNames(commands) {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun portcullis <command> --help for its subcommands and flags.")
}
