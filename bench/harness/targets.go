package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// env is what a target starts from.
type env struct {
	dir      string // scratch directory of this target
	self     string // the harness binary (upstream, bareproxy)
	bin      string // bin/portcullis
	policy   string // bench/policy.yaml
	upstream string // host:port of the 1 KiB service
}

// running is a started target.
type running struct {
	addr  string
	proxy *proc   // the process measured; nil for direct
	extra []*proc // started for it (the collector), stopped with it
	note  string  // how it ran, for the results
	admin string  // portcullis admin address (/metrics)
	audit string  // portcullis audit file, when not sending to a collector

	collector *proc // the audit collector (also in extra), measured on a row of its own
}

func (r *running) stop() {
	r.proxy.stop()
	for _, p := range r.extra {
		p.stop()
	}
}

// target is one row of the table.
type target struct {
	name  string
	desc  string
	start func(e env) (*running, error) // nil error and nil running: skipped
	skip  func() string                 // non-empty: why it cannot run here
}

// proxyCPU is the core every proxy is pinned to; the upstream, the collector
// and the load generator share the other one.
const proxyCPU, loadCPU = 0, 1

var targets = []target{
	{name: "direct", desc: "the upstream itself (fasthttp, 1 KiB body), no proxy", start: startDirect},
	{name: "bare-proxy", desc: "fasthttp pass-through reverse proxy (HostClient), no checks", start: startBare},
	{name: "portcullis", desc: "portcullis sidecar, bench policy: API key, 3 buckets, audit to a running collector", start: startPortcullis},
	{name: "portcullis-file", desc: "portcullis sidecar, bench policy: API key, 3 buckets, audit to a local JSON-lines file (the work nginx does with its access log)", start: startPortcullisFile},
	{name: "nginx", desc: "nginx: key map, 3 limit_req zones, JSON access log", start: startNginx, skip: missing("nginx")},
	{name: "haproxy", desc: "HAProxy: key map, 3 stick tables, JSON log", start: startHAProxy, skip: missing("haproxy")},
}

func missing(bin string) func() string {
	return func() string {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " not installed (run `make bench-peers`)"
		}
		return ""
	}
}

func startDirect(e env) (*running, error) {
	return &running{addr: e.upstream}, nil
}

func startBare(e env) (*running, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := start(e.dir, "bare-proxy", proxyCPU, []string{"GOMAXPROCS=1"}, e.self, "bareproxy", "--listen", addr, "--upstream", e.upstream)
	if err != nil {
		return nil, err
	}
	return &running{addr: addr, proxy: p, note: "GOMAXPROCS=1"}, waitTCP(p, addr, timeoutStart)
}

// startPortcullis runs the sidecar with its audit going to a collector
// (or, in a build without one, to a file).
func startPortcullis(e env) (*running, error) { return startSidecar(e, true) }

// startPortcullisFile runs the sidecar with its audit going to a JSON-lines
// file (--audit-file): no collector on the load core (issue 18).
func startPortcullisFile(e env) (*running, error) { return startSidecar(e, false) }

// startSidecar starts `portcullis sidecar` on the proxy core, its audit to
// a collector when toCollector is set and the binary has one, else to a
// file.
func startSidecar(e env, toCollector bool) (*running, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	r := &running{addr: addr, admin: admin}
	args := []string{e.bin, "sidecar", "--policy", e.policy, "--listen", addr, "--upstream", e.upstream,
		"--admin", admin, "--log-level", "warn", "--drain", "1s", "--drain-delay", "0s"} // no load balancer to wait for
	collector, token, note := "", "", "audit to a JSON-lines file (--audit-file)"
	if toCollector {
		if collector, token, note, err = startCollector(e, r); err != nil {
			return nil, err
		}
	}
	if collector != "" {
		args = append(args, "--collector", collector, "--collector-token-file", token, "--spool", filepath.Join(e.dir, "spool"))
		r.note = note
	} else {
		r.audit = filepath.Join(e.dir, "audit.jsonl")
		args = append(args, "--audit-file", r.audit)
		r.note = note
	}
	r.note = "GOMAXPROCS=1; " + r.note
	p, err := start(e.dir, "portcullis", proxyCPU, []string{"GOMAXPROCS=1"}, args...)
	if err != nil {
		r.stop()
		return nil, err
	}
	r.proxy = p
	return r, waitTCP(p, addr, timeoutStart)
}

// startCollector runs `portcullis collector` on the load core when the
// binary has it, and returns its URL and token file; otherwise an empty URL
// and the note that audit went to a file.
func startCollector(e env, r *running) (url, tokenFile, note string, err error) {
	if exec.Command(e.bin, "collector", "--help").Run() != nil {
		return "", "", "audit to a JSON-lines file (--audit-file): `portcullis collector` not available in this build", nil
	}
	key := filepath.Join(e.dir, "signing.key")
	if out, err := exec.Command(e.bin, "audit", "keygen", "--out", key).CombinedOutput(); err != nil {
		return "", "", "", fmt.Errorf("audit keygen: %w: %s", err, out)
	}
	var tok [16]byte
	rand.Read(tok[:])
	tokenFile = filepath.Join(e.dir, "collector.token")
	if err := os.WriteFile(tokenFile, []byte(hex.EncodeToString(tok[:])+"\n"), 0o600); err != nil {
		return "", "", "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return "", "", "", err
	}
	p, err := start(e.dir, "collector", loadCPU, nil, e.bin, "collector", "--listen", addr,
		"--data", filepath.Join(e.dir, "collector-data"), "--retention", "24h", "--signing-key", key, "--token-file", tokenFile)
	if err != nil {
		return "", "", "", err
	}
	r.extra = append(r.extra, p)
	r.collector = p
	if err := waitTCP(p, addr, timeoutStart); err != nil {
		return "", "", "", err
	}
	return "http://" + addr, tokenFile, "audit to a running `portcullis collector` (pinned to the load core)", nil
}

func startNginx(e env) (*running, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"nginx-body", "nginx-proxy"} {
		os.MkdirAll(filepath.Join(e.dir, d), 0o777)
	}
	conf, err := writePeerConfig(nginxConf, "nginx.conf", peerConfig{Dir: e.dir, Listen: addr, Upstream: e.upstream, Keys: demoKeys, Rate: neverDeny})
	if err != nil {
		return nil, fmt.Errorf("cannot write nginx config: %w", err)
	}
	p, err := start(e.dir, "nginx", proxyCPU, nil, "nginx", "-p", e.dir, "-c", conf, "-e", filepath.Join(e.dir, "nginx-error.log"))
	if err != nil {
		return nil, err
	}
	return &running{addr: addr, proxy: p, note: "worker_processes 1 (CPU and RSS: master + worker)"}, waitTCP(p, addr, timeoutStart)
}

func startHAProxy(e env) (*running, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	conf, err := writePeerConfig(haproxyConf, "haproxy.cfg", peerConfig{Dir: e.dir, Listen: addr, Upstream: e.upstream, Keys: demoKeys, Rate: neverDeny})
	if err != nil {
		return nil, fmt.Errorf("cannot write haproxy config: %w", err)
	}
	if out, err := exec.Command("haproxy", "-c", "-f", conf).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("haproxy config check: %w: %s", err, strings.TrimSpace(string(out)))
	}
	p, err := start(e.dir, "haproxy", proxyCPU, nil, "haproxy", "-db", "-f", conf)
	if err != nil {
		return nil, err
	}
	return &running{addr: addr, proxy: p, note: "nbthread 1; log to stdout, redirected to a file"}, waitTCP(p, addr, timeoutStart)
}

// neverDeny is the rate and burst given to every peer limit, as in
// bench/policy.yaml.
const neverDeny = "10000000"
