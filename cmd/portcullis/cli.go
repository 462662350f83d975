package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
)

// The one style every command shares: flags may come anywhere among the
// arguments and are spelled --name; --help prints the usage on stdout and
// exits 0; a usage error is one line on stderr that names the problem and
// the fix, and exits 2; every duration flag accepts days ("90d").

// deprecatedPrefix starts the usage text of a hidden, deprecated flag
// spelling: the usage does not list it, and using it prints a warning.
const deprecatedPrefix = "deprecated: use "

// refusedPrefix starts the usage text of a hidden flag that is refused
// with a usage error naming the flag to use instead.
const refusedPrefix = "refused: use "

// alias registers old as a hidden, deprecated spelling of the flag name,
// sharing its value.
func alias(fs *flag.FlagSet, old, name string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("BUG: alias of unknown flag " + name)
	}
	fs.Var(f.Value, old, deprecatedPrefix+"--"+name)
}

// parseFlags parses args for a command that takes no positional
// arguments, printing help to stdout (stdout.go) and errors to os.Stderr. It
// returns the exit code to use and whether to go on.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	_, code, ok := parseArgs(fs, args, "", 0, stdout, os.Stderr)
	return code, ok
}

// parseArgs parses args into fs, flags anywhere among them, and returns
// the positional arguments, which must number exactly nargs (-1: any).
// argNames names them in the usage line. On --help it prints the usage to
// stdout and returns 0, false; on a usage error one line to stderr and 2,
// false.
func parseArgs(fs *flag.FlagSet, args []string, argNames string, nargs int, stdout, stderr io.Writer) ([]string, int, bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	acceptDays(fs)
	given := countSets(fs)
	pos, err := parseInterspersed(fs, args)
	if repeated := given(); err == nil {
		err = repeated
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil, writeOut(stdout, stderr, fs.Name(), func(w io.Writer) { printUsage(w, fs, argNames) }), false
	}
	if err == nil && nargs >= 0 && len(pos) != nargs {
		err = argCountError(argNames, nargs, pos)
	}
	if err == nil {
		err = checkFileFlags(fs)
	}
	if err == nil {
		err = checkPrefixFlag(fs)
	}
	if err == nil {
		err = checkEtcdGiven(fs)
	}
	if err != nil {
		return nil, usageError(stderr, fs.Name(), err), false
	}
	warnDeprecated(fs, stderr)
	return pos, 0, true
}

// countSets makes every flag of fs count the times it is set, for the
// parse to come, and returns the function that puts the flags back and
// refuses one set twice or more. The flag package keeps the last of a
// repeated flag without a word: a manifest's --policy a.yaml followed by
// a user's --policy b.yaml ran on b.yaml, and nothing said so. A deprecated
// spelling counts as its flag ("--cacert a --etcd-cacert b" is a repeat).
// No flag of the CLI takes a list by repetition: a list is one value,
// comma-separated (--etcd a:2379,b:2379). The hidden, refused flags are
// left alone: their own error names the flag to use instead.
func countSets(fs *flag.FlagSet) func() error {
	type wrapped struct {
		f     *flag.Flag
		inner flag.Value
	}
	var all []wrapped
	shared := map[any]*flagSets{}
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, refusedPrefix) {
			return
		}
		sets := &flagSets{}
		if key := setKey(f.Value); key != nil {
			if s, ok := shared[key]; ok {
				sets = s
			} else {
				shared[key] = sets
			}
		}
		if !strings.HasPrefix(f.Usage, deprecatedPrefix) {
			sets.flag = f.Name
		}
		all = append(all, wrapped{f, f.Value})
		f.Value = &countedValue{Value: f.Value, name: f.Name, sets: sets}
	})
	return func() error {
		var err error
		for _, w := range all {
			c := w.f.Value.(*countedValue)
			w.f.Value = w.inner
			if err == nil && len(c.sets.names) > 1 {
				err = c.sets.repeated()
			}
		}
		return err
	}
}

// setKey returns what identifies the variable behind v, shared by a flag
// and its deprecated spellings (alias), or nil when it cannot be compared.
func setKey(v flag.Value) any {
	if d, ok := v.(*durationValue); ok {
		v = d.inner
	}
	if t := reflect.TypeOf(v); t == nil || !t.Comparable() {
		return nil
	}
	return v
}

// flagSets are the sets of one flag, under its name or a deprecated one.
type flagSets struct {
	flag  string   // its name
	names []string // the names it was set as, in order
}

// repeated is the usage error of a flag set more than once: it names the
// flag, never its values, which may be secrets.
func (s *flagSets) repeated() error {
	name := s.flag
	if name == "" {
		name = s.names[0]
	}
	for _, n := range s.names {
		if n != name {
			as := make([]string, len(s.names))
			for i, n := range s.names {
				as[i] = dashed(n)
			}
			return fmt.Errorf("%s given %d times (as %s); give it once", dashed(name), len(s.names), strings.Join(as, ", "))
		}
	}
	return fmt.Errorf("%s given %d times; give it once (only the last would count)", dashed(name), len(s.names))
}

// dashed spells a flag as the usage does: -f, -o of `portcullis inject`,
// as kubectl spells them; --name for every other.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// countedValue is a flag's value while countSets counts its sets.
type countedValue struct {
	flag.Value
	name string
	sets *flagSets // shared with its deprecated spellings
}

// Set records the set and sets the value.
func (c *countedValue) Set(s string) error {
	c.sets.names = append(c.sets.names, c.name)
	return c.Value.Set(s)
}

// IsBoolFlag says whether the flag is a boolean one, as its value does:
// the flag package asks, to know whether "--json" takes a value.
func (c *countedValue) IsBoolFlag() bool {
	b, ok := c.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func argCountError(argNames string, nargs int, pos []string) error {
	switch {
	case len(pos) > nargs:
		return fmt.Errorf("unexpected argument %q", pos[nargs])
	case argNames != "":
		return fmt.Errorf("missing %s", strings.Fields(argNames)[len(pos)])
	}
	return fmt.Errorf("want %d arguments, got %d", nargs, len(pos))
}

// parseInterspersed parses flags anywhere among the arguments, as in
// "keys rotate ID --overlap 24h", and returns the positional ones. Every
// argument after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError prints err as the one line of a usage error of command name
// and returns exit code 2.
func usageError(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "portcullis %s: %s (see portcullis %s --help)\n", name, flagMessage(err), name)
	return 2
}

// usagef is usageError with a formatted message.
func usagef(stderr io.Writer, name, format string, args ...any) int {
	return usageError(stderr, name, fmt.Errorf(format, args...))
}

var (
	flagInvalid  = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-(\S+): (.*)$`)
	flagUnknown  = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	flagNeedsArg = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
)

// flagMessage rewrites the flag package's errors in the CLI's words.
func flagMessage(err error) string {
	s := err.Error()
	if m := flagInvalid.FindStringSubmatch(s); m != nil {
		why := m[3]
		if why == "parse error" {
			why = "not a number"
		}
		return fmt.Sprintf("--%s %s: %s", m[2], m[1], why)
	}
	if m := flagUnknown.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("unknown flag --%s", m[1])
	}
	if m := flagNeedsArg.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("--%s needs a value", m[1])
	}
	return s
}

// warnDeprecated says, for every deprecated spelling used, which to use.
func warnDeprecated(fs *flag.FlagSet, stderr io.Writer) {
	fs.Visit(func(f *flag.Flag) {
		if instead, ok := strings.CutPrefix(f.Usage, deprecatedPrefix); ok {
			fmt.Fprintf(stderr, "portcullis %s: --%s is deprecated; use %s\n", fs.Name(), f.Name, instead)
		}
	})
}

// printUsage prints the usage of the command fs parses: its line, its
// summary and its flags (not the deprecated spellings).
func printUsage(w io.Writer, fs *flag.FlagSet, argNames string) {
	line := "portcullis " + fs.Name()
	if argNames != "" {
		line += " " + argNames
	}
	fmt.Fprintf(w, "usage: %s [flags]\n", line)
	if s := summaryOf(fs.Name()); s != "" {
		fmt.Fprintf(w, "\n%s\n", s)
	}
	fmt.Fprintln(w, "\nflags:")
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.HasPrefix(f.Usage, deprecatedPrefix) && !strings.HasPrefix(f.Usage, refusedPrefix) {
			printFlag(w, f)
		}
	})
	fmt.Fprintln(w, "  --help\n    \tprint this help")
}

func printFlag(w io.Writer, f *flag.Flag) {
	name, usage := flag.UnquoteUsage(f)
	switch _, isDur := f.Value.(*durationValue); {
	case isDur && name == "value":
		name = "duration"
	case name == "string":
		name = "value"
	case name == "int" || name == "uint" || name == "float":
		name = "n"
	}
	if name != "" {
		name = " " + strings.ToUpper(name)
	}
	fmt.Fprintf(w, "  %s%s\n    \t%s", dashed(f.Name), name, strings.ReplaceAll(usage, "\n", "\n    \t"))
	if d := f.DefValue; d != "" && d != "0" && d != "0s" && d != "false" && !strings.Contains(usage, "(default") {
		fmt.Fprintf(w, " (default %s)", d)
	}
	fmt.Fprintln(w)
}
