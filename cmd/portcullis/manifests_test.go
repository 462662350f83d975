package main

import (
	"flag"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/portcullis/portcullis/inject"
)

// The manifests and the injector write portcullis command lines that no
// shell checks until a pod runs them; these tests hold them to the
// binary's commands and flags.

// manifestCommands returns the args of every container running the
// portcullis image in deploy/kubernetes, by file.
func manifestCommands(t *testing.T) map[string][][]string {
	t.Helper()
	files, err := filepath.Glob("../../deploy/kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	out := map[string][][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		for {
			var doc map[string]any
			if dec.Decode(&doc) != nil {
				break
			}
			walkContainers(doc, func(c map[string]any) {
				if c["image"] != "portcullis" {
					return
				}
				var args []string
				for _, a := range c["args"].([]any) {
					args = append(args, a.(string))
				}
				out[filepath.Base(f)] = append(out[filepath.Base(f)], args)
			})
		}
	}
	return out
}

// walkContainers calls fn for every container and init container in v.
func walkContainers(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "containers" || k == "initContainers" {
				for _, c := range e.([]any) {
					fn(c.(map[string]any))
				}
				continue
			}
			walkContainers(e, fn)
		}
	case []any:
		for _, e := range x {
			walkContainers(e, fn)
		}
	}
}

// checkCommandLine checks that args name a portcullis command and only
// flags it has, each once (a repeated flag is a usage error).
func checkCommandLine(t *testing.T, where string, args []string) {
	t.Helper()
	path, ok := commandPath("portcullis " + strings.Join(args, " "))
	if !ok {
		t.Errorf("%s runs portcullis %q: no such command", where, args)
		return
	}
	help := portcullis(t, "", nil, append(path, "--help")...).stdout
	seen := map[string]bool{}
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		if strings.HasPrefix(name, "--") && seen[name] {
			t.Errorf("%s runs portcullis %s with %s twice", where, strings.Join(path, " "), name)
		}
		seen[name] = true
		if strings.HasPrefix(name, "--") && !strings.Contains(help, "\n  "+name+" ") && !strings.Contains(help, "\n  "+name+"\n") {
			t.Errorf("%s runs portcullis %s with %s, which it does not have", where, strings.Join(path, " "), name)
		}
	}
}

// TestManifestCommandLines: every portcullis container of the kustomize
// base names a command and flags that exist.
func TestManifestCommandLines(t *testing.T) {
	t.Parallel()
	cmds := manifestCommands(t)
	var n int
	for file, lines := range cmds {
		for _, args := range lines {
			checkCommandLine(t, file, args)
			n++
		}
	}
	if n < 5 { // collector, injector, keygen, policy push, example app
		t.Errorf("found %d portcullis containers in the manifests, want at least 5", n)
	}
}

// TestInjectedSidecarArgs: the sidecar the injector writes (native and
// legacy) parses with the sidecar's own flags, none given twice (a
// repeated flag is a usage error), and passes its checks, and the legacy
// preStop hook is a portcullis command.
func TestInjectedSidecarArgs(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		c := inject.Defaults()
		c.Legacy = legacy
		pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p", "labels": map[string]any{"app": "hr"}},
			"spec": map[string]any{"containers": []any{map[string]any{"name": "a", "ports": []any{map[string]any{"name": "http", "containerPort": 8081}}}}}}
		if _, err := c.Object(pod); err != nil {
			t.Fatal(err)
		}
		spec := pod["spec"].(map[string]any)
		list := spec["initContainers"]
		if legacy {
			list = spec["containers"]
		}
		sc := list.([]any)[0].(map[string]any)
		var args []string
		for _, a := range sc["args"].([]any) {
			args = append(args, a.(string))
		}
		if args[0] != "sidecar" {
			t.Fatalf("args = %q, want the sidecar command", args)
		}
		var f sidecarFlags
		fs := flag.NewFlagSet("sidecar", flag.ContinueOnError)
		f.register(fs)
		acceptDays(fs)
		given := countSets(fs)
		_, err := parseInterspersed(fs, args[1:])
		if repeated := given(); err == nil {
			err = repeated
		}
		if err != nil {
			t.Fatalf("the injected sidecar's args do not parse: %v\n%q", err, args)
		}
		if err := checkSidecarFlags(f); err != nil {
			t.Errorf("the injected sidecar's args: %v", err)
		}
		if f.upstream != "127.0.0.1:8081" || f.listen != "0.0.0.0:8080" || f.service != "hr" || f.spoolMax != 256<<20 {
			t.Errorf("parsed upstream %q listen %q service %q spool-max %d", f.upstream, f.listen, f.service, f.spoolMax)
		}
		if legacy {
			hook := sc["lifecycle"].(map[string]any)["preStop"].(map[string]any)["exec"].(map[string]any)["command"].([]any)
			if hook[0] != "/portcullis" || !slices.Equal(hook[1:], []any{"wait", "5s"}) {
				t.Errorf("preStop = %v, want /portcullis wait 5s", hook)
			}
			if r := portcullis(t, "", nil, "wait", "1ms"); r.code != 0 {
				t.Errorf("portcullis wait 1ms = exit %d: %s", r.code, r.stderr)
			}
			post, _ := sc["lifecycle"].(map[string]any)["postStart"].(map[string]any)
			exec, _ := post["exec"].(map[string]any)
			if hook, _ = exec["command"].([]any); !slices.Equal(hook, []any{"/portcullis", "wait", "--listening=127.0.0.1:8080", "1m"}) {
				t.Errorf("postStart = %v, want /portcullis wait --listening=127.0.0.1:8080 1m", hook)
			}
		}
	}
}

// TestWaitListening: `portcullis wait --listening ADDR DURATION`, the
// legacy sidecar's postStart hook, returns 0 once ADDR accepts, and 1,
// saying so, when nothing listens there within DURATION.
func TestWaitListening(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if r := portcullis(t, "", nil, "wait", "--listening="+ln.Addr().String(), "10s"); r.code != 0 {
		t.Errorf("wait --listening on a listener = exit %d: %s", r.code, r.stderr)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close()
	if r := portcullis(t, "", nil, "wait", "--listening="+addr, "300ms"); r.code != 1 || !strings.Contains(r.stderr, addr) {
		t.Errorf("wait --listening on a closed port = exit %d: %s; want 1 naming it", r.code, r.stderr)
	}
}
