package portcullis_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is the import path of this module.
const module = "github.com/portcullis/portcullis"

// listed is what `go list -json` says of one package.
type listed struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Deps       []string
}

// listPackages runs `go list -pgo=off -deps -json ./...` in the module
// root and returns every package it names, this module's and their
// dependencies, by import path. -pgo=off: with cmd/portcullis/default.pgo
// the go command lists the packages that binary links a second time, as
// "path [github.com/portcullis/portcullis/cmd/portcullis]" (built with
// its profile); the imports are the same.
func listPackages(t *testing.T) map[string]*listed {
	t.Helper()
	cmd := exec.Command("go", "list", "-pgo=off", "-deps", "-json", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -pgo=off -deps -json ./...: %v\n%s", err, stderr.Bytes())
	}
	pkgs := map[string]*listed{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(listed)
		err := dec.Decode(p)
		if errors.Is(err, io.EOF) {
			return pkgs
		}
		if err != nil {
			t.Fatalf("cannot decode go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
}

// under reports whether path is pkg or a package below it.
func under(path, pkg string) bool {
	return path == pkg || strings.HasPrefix(path, pkg+"/")
}

// underAny reports whether path is under one of pkgs.
func underAny(path string, pkgs ...string) bool {
	return slices.ContainsFunc(pkgs, func(p string) bool { return under(path, p) })
}

// Dependency families the rules name.
var (
	protobuf = []string{"google.golang.org/protobuf", "go.opentelemetry.io/proto", "github.com/golang/protobuf"}
	grpc     = []string{"google.golang.org/grpc"}
	etcd     = []string{"go.etcd.io"}
	ggcr     = []string{"github.com/google/go-containerregistry"}
)

// TestArchitecture holds the packages to their allowed imports (issue 19
// items 1 and 7), tailscale style: the sidecar's audit side links no
// protobuf and nothing of the collector or the data plane; the data plane
// links no protobuf, gRPC or etcd; policy is the standard library plus the
// YAML decoder; nothing but the collector imports protobuf or the OTLP
// types; and only the etcd sync and admin packages (and the programs:
// collector, cmd, examples, interop) import go.etcd.io; only the programs
// import the data plane. Rules that name a
// package check everything it links (go list -deps), so an import added
// anywhere below it is caught; rules on importers check the non-test
// imports of every package of the module.
func TestArchitecture(t *testing.T) {
	pkgs := listPackages(t)
	pkg := func(path string) *listed {
		t.Helper()
		p, ok := pkgs[path]
		if !ok {
			t.Fatalf("go list does not name %s", path)
		}
		return p
	}
	forbid := func(path string, families ...[]string) {
		t.Helper()
		bad := slices.Concat(families...)
		var got []string
		for _, d := range pkg(path).Deps {
			if underAny(d, bad...) {
				got = append(got, d)
			}
		}
		if len(got) > 0 {
			t.Errorf("%s links %d packages it must not (of %s): %s", path, len(got), strings.Join(bad, ", "), strings.Join(got, " "))
		}
	}
	forbid(module+"/audit", protobuf, []string{module + "/collector", module + "/dataplane"})
	for path := range pkgs {
		if under(path, module+"/dataplane") {
			forbid(path, protobuf, grpc, etcd)
		}
	}
	for _, d := range pkg(module + "/policy").Deps {
		if !pkgs[d].Standard && !under(d, "go.yaml.in/yaml/v3") {
			t.Errorf("%s links %s; it may link only the standard library and go.yaml.in/yaml/v3", module+"/policy", d)
		}
	}
	// The Kubernetes API types are for the injector's tests: the binary
	// every sidecar runs works on generic objects (issue 16).
	for _, path := range []string{module + "/inject", module + "/cmd/portcullis"} {
		forbid(path, []string{"k8s.io", "sigs.k8s.io", "github.com/evanphx/json-patch"})
	}
	onlyImportedBy(t, pkgs, protobuf, module+"/collector")
	// Only the programs wire the data plane in: the collector, alerts and
	// the evidence builder read what it recorded, never its code.
	onlyImportedBy(t, pkgs, []string{module + "/dataplane"}, module+"/dataplane", module+"/cmd", module+"/examples", module+"/interop", module+"/bench")
	// The module's own arrows, package by package: what each may import of
	// the module (docs/ARCHITECTURE.md, "Packages and their imports"). The
	// collector never imports what reads its store (alert, evidence).
	arrows := map[string][]string{
		"dataplane":           {"audit", "dataplane/authn", "dataplane/jwt", "internal/cgroup", "internal/certname", "internal/clientcrl", "internal/durable", "internal/fds", "internal/reload", "limiter", "policy"},
		"dataplane/authn":     {"policy"},
		"dataplane/jwt":       {},
		"internal/durable":    {},
		"internal/cgroup":     {"internal/durable"},
		"internal/reload":     {},
		"internal/fds":        {},
		"internal/serverlog":  {},
		"internal/clientcrl":  {},
		"internal/certname":   {},
		"internal/credential": {},
		"internal/devetcd":    {},
		"internal/etcdtest":   {"internal/devetcd", "policy", "policy/etcdsync"},
		"internal/freeport":   {},
		"limiter":             {},
		"policy":              {},
		"audit":               {"internal/credential", "internal/durable", "limiter"},
		"collector":           {"audit", "internal/certname", "internal/credential", "internal/durable", "internal/fds", "internal/serverlog", "limiter", "policy", "policy/etcdadmin", "policy/etcdsync"},
		"alert":               {"audit", "collector", "internal/credential", "internal/durable", "policy", "policy/etcdadmin", "policy/etcdsync"},
		"evidence":            {"audit", "alert", "collector", "internal/credential", "internal/durable", "policy", "policy/etcdadmin", "policy/etcdsync"},
		"policy/etcdsync":     {"internal/durable", "policy"},
		"policy/etcdadmin":    {"policy", "policy/etcdsync"},
		"policy/policytest":   {"policy"},
		"cmd/portcullis-dev":  {"internal/devetcd"},
		"internal/promtool":   {"internal/debpkg"},
		"internal/debpkg":     {},
		"internal/tmpfs":      {"internal/debpkg"},
		"bench/slowreaders":   {},
		"bench/load":          {},
		"bench/harness":       {"bench/load", "examples/upstream"},
		"bench/lagprobe":      {"bench/load"},
		"inject":              {"internal/durable", "limiter"},
	}
	for path, allowed := range arrows {
		moduleImportsWithin(t, pkg(module+"/"+path), allowed)
	}
	// Every package of the module has its arrows above, or is a program
	// (cmd, examples, interop), a build tool or the root (this test): a new
	// package cannot go unchecked.
	for path := range pkgs {
		rel, ok := strings.CutPrefix(path, module+"/")
		if !ok || arrows[rel] != nil || underAny(path, module+"/cmd", module+"/examples", module+"/interop", module+"/internal/tools") {
			continue
		}
		t.Errorf("%s has no entry in TestArchitecture's arrows: add what it may import of the module (and its row in docs/ARCHITECTURE.md)", path)
	}
	etcdUsers := []string{module + "/policy/etcdsync", module + "/policy/etcdadmin", module + "/internal/devetcd", module + "/internal/etcdtest", module + "/collector", module + "/cmd", module + "/examples", module + "/interop"}
	onlyImportedBy(t, pkgs, etcd, etcdUsers...)
	// The image builder is a build tool: it imports nothing of the module,
	// and nothing that ships links go-containerregistry.
	moduleImportsWithin(t, pkg(module+"/internal/tools/mkimage"), nil)
	onlyImportedBy(t, pkgs, ggcr, module+"/internal/tools")
	// The full-disk filesystem is for tests: nothing that ships mounts one.
	onlyImportedBy(t, pkgs, []string{module + "/internal/tmpfs"}, module+"/internal/tmpfs")
	// So is the etcd packages' shared test setup (an etcd server in process).
	onlyImportedBy(t, pkgs, []string{module + "/internal/etcdtest"}, module+"/internal/etcdtest")
	// And the loopback ports handed to tests (freeport.Addr).
	onlyImportedBy(t, pkgs, []string{module + "/internal/freeport"}, module+"/internal/freeport")
}

// moduleImportsWithin checks that p imports (directly, outside its tests)
// no package of this module but those named in allowed (relative paths).
func moduleImportsWithin(t *testing.T, p *listed, allowed []string) {
	t.Helper()
	for _, imp := range p.Imports {
		rel, ok := strings.CutPrefix(imp, module+"/")
		if ok && !slices.Contains(allowed, rel) {
			t.Errorf("%s imports %s; of this module it may import only %v", p.ImportPath, imp, allowed)
		}
	}
}

// onlyImportedBy checks that of this module's packages only those under
// users import (directly) a package under one of family.
func onlyImportedBy(t *testing.T, pkgs map[string]*listed, family []string, users ...string) {
	t.Helper()
	for path, p := range pkgs {
		if !under(path, module) || underAny(path, users...) {
			continue
		}
		for _, imp := range p.Imports {
			if underAny(imp, family...) {
				t.Errorf("%s imports %s; only %s may import %s", path, imp, strings.Join(users, ", "), strings.Join(family, ", "))
			}
		}
	}
}
