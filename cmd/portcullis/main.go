// Command portcullis is the Portcullis API-security sidecar and its tools:
// one binary with subcommands. It only wires packages together; the logic
// lives in the library packages.
package main

import (
	"fmt"
	"os"
	"sort"
)

// command is one subcommand: run gets the arguments after its name and
// returns the process exit code.
type command struct {
	run     func(args []string) int
	summary string
}

var commands = map[string]command{}

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
	register(name, summary, func(args []string) int { return g.dispatch(name, args) })
}

func (g group) dispatch(name string, args []string) int {
	if len(args) > 0 {
		if c, ok := g[args[0]]; ok {
			return c.run(args[1:])
		}
		fmt.Fprintf(os.Stderr, "portcullis %s: unknown subcommand %q\n", name, args[0])
	}
	fmt.Fprintf(os.Stderr, "usage: portcullis %s <subcommand> [flags]\n\nsubcommands:\n", name)
	for _, n := range sortedNames(g) {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, g[n].summary)
	}
	return 2
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
	registerGroup("clients", "suspend and resume clients", clientsCmds)
}

func sortedNames(m map[string]command) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

func dispatch(args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage()
		return 2
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "portcullis: unknown command %q\n\n", args[0])
		usage()
		return 2
	}
	return c.run(args[1:])
}

func usage() {
	names := sortedNames(commands)
	fmt.Fprintln(os.Stderr, "usage: portcullis <command> [flags]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
}
