package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The documentation cannot drift from the binary (issue 13, item 13): every
// `portcullis ...` the README and docs/*.md show names a command that
// exists and only flags that command has, every command and flag is shown,
// and the shell session the README shows is run line by line against a
// real etcd.

const readmePath = "../../README.md"

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// userDocs returns the README and every docs/*.md after it but the design
// (ARCHITECTURE.md): the user's documentation, which the README links to
// for the reference of each part.
func userDocs(t *testing.T) string {
	t.Helper()
	text := readme(t)
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(files) < 10 {
		t.Fatalf("docs/*.md: %d files, %v; want the reference the README links to", len(files), err)
	}
	for _, f := range files {
		if filepath.Base(f) == "ARCHITECTURE.md" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text += "\n" + string(b)
	}
	return text
}

var (
	codeSpan  = regexp.MustCompile("`(portcullis [^`]+)`")
	flagToken = regexp.MustCompile(`--[a-z][a-z0-9-]*`)
	shBlock   = regexp.MustCompile("(?s)```sh\n(.*?)```")
)

// readmeCommands returns every portcullis command line the README shows:
// code spans and lines of sh blocks.
func readmeCommands(text string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(text, -1) {
		out = append(out, strings.ReplaceAll(m[1], `\|`, "|"))
	}
	return append(out, sessionLines(text)...)
}

// sessionLines returns the lines of the README's sh blocks that run
// portcullis.
func sessionLines(text string) []string {
	var out []string
	for _, b := range shBlock.FindAllStringSubmatch(text, -1) {
		for _, line := range strings.Split(b[1], "\n") {
			if line = strings.TrimSpace(line); strings.HasPrefix(line, "portcullis ") {
				out = append(out, line)
			}
		}
	}
	return out
}

// commandPath returns the command (and subcommand) a command line names.
func commandPath(line string) ([]string, bool) {
	words := strings.Fields(line)[1:]
	if len(words) > 1 && words[0] == "help" {
		words = words[1:]
	}
	if len(words) == 0 {
		return nil, false
	}
	c, ok := commandTable()[words[0]]
	if !ok {
		return nil, false
	}
	g := c.sub
	if g == nil {
		return words[:1], true
	}
	if len(words) < 2 || g[words[1]].run == nil {
		return nil, false
	}
	return words[:2], true
}

func TestREADMECommandsExist(t *testing.T) {
	t.Parallel()
	lines := readmeCommands(userDocs(t))
	if len(lines) < 30 {
		t.Fatalf("found %d portcullis command lines in the documentation; the extraction is broken", len(lines))
	}
	help := map[string]string{}
	shown := map[string]bool{}
	for _, line := range lines {
		path, ok := commandPath(line)
		if !ok {
			t.Errorf("the documentation shows %q: no such command", line)
			continue
		}
		key := strings.Join(path, " ")
		shown[key] = true
		if _, done := help[key]; !done {
			r := portcullis(t, "", nil, append(path, "--help")...)
			if r.code != 0 {
				t.Errorf("portcullis %s --help = exit %d: %s", key, r.code, r.stderr)
			}
			help[key] = r.stdout
		}
		for _, f := range flagToken.FindAllString(line, -1) {
			if !strings.Contains(help[key], "\n  "+f+" ") && !strings.Contains(help[key], "\n  "+f+"\n") {
				t.Errorf("the documentation shows %q, but portcullis %s has no flag %s", line, key, f)
			}
		}
	}
	for _, p := range allCommandPaths() {
		key := strings.Join(p, " ")
		if !isGroup(key) && !shown[key] {
			t.Errorf("portcullis %s is in no command line of the README or docs/*.md: document it", key)
		}
	}
}

// servers are commands that run until stopped; a README session line must
// not start one.
var servers = []string{"dev", "sidecar", "collector", "upstream"}

// TestREADMESession runs the README's sh session in order, each line as a
// portcullis process, against a real etcd server in process, from a
// directory holding examples/policy.yaml. A line may end in "# exit N" to
// expect that code; $ID is the first key id a command prints.
func TestREADMESession(t *testing.T) {
	t.Parallel()
	lines := sessionLines(readme(t))
	if len(lines) < 10 {
		t.Fatalf("found %d session lines in the README", len(lines))
	}
	e := startEtcd(t)
	dir := t.TempDir()
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "examples"), 0o700)
	if err := os.WriteFile(filepath.Join(dir, "examples", "policy.yaml"), doc, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PORTCULLIS_ETCD=" + strings.Join(e.Endpoints(), ","), "PORTCULLIS_ETCD_PASSWORD="}
	vars := map[string]string{}
	keyID := regexp.MustCompile(`\bid ([a-z0-9]{8,32}),`)
	for _, line := range lines {
		cmdline, want := expectedExit(line)
		args, err := shellWords(cmdline, vars)
		if err != nil {
			t.Fatalf("README line %q: %v", line, err)
		}
		args = args[1:]
		if slices.Contains(servers, args[0]) {
			t.Fatalf("README session line %q starts a server; show it in prose instead", line)
		}
		r := portcullis(t, dir, env, args...)
		if r.code != want {
			t.Fatalf("README line %q = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", line, r.code, want, r.stdout, r.stderr)
		}
		if m := keyID.FindStringSubmatch(r.stdout); m != nil && vars["ID"] == "" {
			vars["ID"] = m[1]
		}
	}
	if vars["ID"] == "" {
		t.Error("no session line printed a key id")
	}
}

var exitComment = regexp.MustCompile(`\s+#\s*exit (\d+)\s*$`)

// expectedExit strips a trailing comment from line and returns the exit
// code it names ("# exit 1"), 0 without one.
func expectedExit(line string) (string, int) {
	if m := exitComment.FindStringSubmatchIndex(line); m != nil {
		n, _ := strconv.Atoi(line[m[2]:m[3]])
		return line[:m[0]], n
	}
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	return line, 0
}

// shellWords splits a command line as sh does for what the README uses:
// words separated by spaces, single and double quotes grouping, and $NAME
// replaced by vars[NAME].
func shellWords(s string, vars map[string]string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0 && (c != '$' || quote == '\''):
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '$' && quote != '\'':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z') {
				j++
			}
			v, ok := vars[s[i+1:j]]
			if !ok {
				return nil, fmt.Errorf("$%s is not set by an earlier line", s[i+1:j])
			}
			cur.WriteString(v)
			inWord, i = true, j-1
		case strings.IndexByte("$`|<>;&", c) >= 0:
			return nil, fmt.Errorf("%q needs a shell; the README session runs plain commands", c)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// sharedFlags are the flags the README documents once for every command
// that has them (the etcd connection, --timeout, the lifecycle record's
// --actor, --reason and --ticket, --json) rather than in each command's row.
var sharedFlags = map[string]bool{
	"--help": true, "--etcd": true, "--prefix": true, "--etcd-cacert": true, "--etcd-cert": true, "--etcd-key": true,
	"--etcd-user": true, "--timeout": true, "--actor": true, "--reason": true, "--ticket": true, "--json": true,
}

// helpFlag is a flag line of a command's --help: "  --name" or "  -f".
var helpFlag = regexp.MustCompile(`(?m)^  (--?[a-z][a-z0-9-]*)\b`)

// TestREADMEDocumentsEveryFlag is the converse of TestREADMECommandsExist:
// every flag a command's --help lists is in the README, and in that
// command's row of the CLI table unless it is a shared flag (the sidecar's
// flags have their own paragraphs). keys generate's --created-by and
// --not-before and the collector's --segment-max-bytes and
// --segment-max-age were nowhere; the collector's --tls-cert, --tls-key and
// --client-ca, dev's addresses and keys create's --approval were in no row.
func TestREADMEDocumentsEveryFlag(t *testing.T) {
	t.Parallel()
	text := userDocs(t)
	rows := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if m := regexp.MustCompile("^\\| `(portcullis [^`]+)`").FindStringSubmatch(line); m != nil {
			if path, ok := commandPath(m[1]); ok {
				key := strings.Join(path, " ")
				rows[key] += strings.ReplaceAll(line, `\|`, "|") + "\n"
			}
		}
	}
	mentioned := func(in, flag string) bool {
		return regexp.MustCompile(`(^|[^a-z0-9-])` + regexp.QuoteMeta(flag) + `([^a-z0-9-]|$)`).MatchString(in)
	}
	for _, p := range allCommandPaths() {
		key := strings.Join(p, " ")
		if isGroup(key) {
			continue
		}
		r := portcullis(t, "", nil, append(p, "--help")...)
		for _, m := range helpFlag.FindAllStringSubmatch(r.stdout, -1) {
			f := m[1]
			switch {
			case !mentioned(text, f):
				t.Errorf("portcullis %s %s is nowhere in the README or docs/*.md", key, f)
			case !sharedFlags[f] && key != "sidecar" && !mentioned(rows[key], f):
				t.Errorf("portcullis %s %s is not in its row of the CLI table (docs/cli.md)", key, f)
			}
		}
	}
}
