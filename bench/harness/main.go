// Command harness runs the end-to-end load benchmark of issue 7: it starts
// each target on loopback (the upstream directly, a bare fasthttp proxy,
// Portcullis, nginx, HAProxy), loads it with bench/load in closed-loop
// saturation and at a constant rate, measures the proxy process from /proc,
// and writes a Markdown table to --out/<date>.md and --out/latest.md.
//
// Every proxy is pinned to CPU 0 with one worker; the upstream, the
// collector and the load generator (this process) share CPU 1. See
// bench/README.md.
//
// The same binary serves the upstream (`harness upstream`) and the bare
// proxy (`harness bareproxy`), so the harness needs nothing else built.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/bench/load"
)

// timeoutStart bounds how long a target may take to listen.
const timeoutStart = 15 * time.Second

// pinning is false on machines with one CPU or without taskset.
var pinning = true

// settings are the knobs of one run, recorded with its results.
type settings struct {
	bin, policy, out, only  string
	satDur, rateDur, warmup time.Duration
	satConns, rateConns     int
	rate                    int
	path, key               string
	wrk                     bool
	quietWait               time.Duration
}

func main() {
	if len(os.Args) > 1 {
		var err error
		switch os.Args[1] {
		case "upstream":
			err = runUpstream(os.Args[2:])
		case "bareproxy":
			err = runBareProxy(os.Args[2:])
		default:
			err = runHarness(os.Args[1:])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "harness:", err)
			os.Exit(1)
		}
		return
	}
	if err := runHarness(nil); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

func runHarness(args []string) error {
	var s settings
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	fs.StringVar(&s.bin, "bin", "bin/portcullis", "portcullis `binary`")
	fs.StringVar(&s.policy, "policy", "bench/policy.yaml", "bench policy `file`")
	fs.StringVar(&s.out, "out", "bench/results", "results `directory`")
	fs.StringVar(&s.only, "only", "", "comma-separated `targets` to run (default: all)")
	fs.DurationVar(&s.satDur, "sat", 10*time.Second, "saturation window")
	fs.DurationVar(&s.rateDur, "rate-dur", 10*time.Second, "constant-rate window")
	fs.DurationVar(&s.warmup, "warmup", 2*time.Second, "warm-up before each window")
	fs.IntVar(&s.satConns, "conns", 64, "connections in saturation")
	fs.IntVar(&s.rateConns, "rate-conns", 16, "connections at the constant rate")
	fs.IntVar(&s.rate, "rate", 2000, "constant rate, requests per second")
	fs.StringVar(&s.path, "path", "/v1/users/42", "request path")
	fs.StringVar(&s.key, "key", demoKeys[0].key, "API key sent as X-API-Key")
	fs.BoolVar(&s.wrk, "wrk", true, "also measure saturation with wrk when it is installed")
	fs.DurationVar(&s.quietWait, "quiet-wait", time.Minute, "how long to wait for the machine to be idle before starting")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := pinSelf(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return bench(ctx, s)
}

// pinSelf re-runs the harness under `taskset -c 1` so the load generator
// and what it starts (upstream, collector) stay off the proxies' core.
func pinSelf() error {
	if os.Getenv("BENCH_HARNESS_PINNED") != "" {
		pinning = os.Getenv("BENCH_HARNESS_PINNED") == "1"
		return nil
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil || onlineCPUs() < 2 {
		fmt.Fprintln(os.Stderr, "harness: fewer than 2 CPUs or no taskset: running unpinned (results are not comparable)")
		pinning = false
		os.Setenv("BENCH_HARNESS_PINNED", "0")
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(taskset, append([]string{"-c", fmt.Sprint(loadCPU), self}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "BENCH_HARNESS_PINNED=1", "GOMAXPROCS=1")
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		return err
	}
	os.Exit(0)
	return nil
}

// result is one target's row.
type result struct {
	target     target
	skipped    string
	note       string
	sat        load.Result
	rate       load.Result
	satCPU     time.Duration // proxy CPU over the saturation window
	rateCPU    time.Duration // proxy CPU over the constant-rate window
	rss        int64         // peak RSS of the proxy (and descendants)
	foreign    time.Duration // CPU time on the proxy core not used by the proxy, both windows
	window     time.Duration // wall time of both windows
	wrk        float64       // wrk saturation rps (0: not run, -1: errors)
	wrkCPU     time.Duration // proxy CPU over the wrk window
	wrkElapsed time.Duration
	extra      string // target-specific facts (audit delivery)
}

func bench(ctx context.Context, s settings) error {
	for _, p := range []string{s.bin, s.policy} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("missing %s: %w", p, err)
		}
	}
	if out, err := exec.Command(s.bin, "policy", "validate", s.policy).CombinedOutput(); err != nil {
		return fmt.Errorf("bench policy does not validate: %s", out)
	}
	bin, _ := filepath.Abs(s.bin)
	pol, _ := filepath.Abs(s.policy)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "portcullis-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	m := describeMachine(bin)
	m.busy = waitQuiet(s.quietWait)

	upAddr, err := freeAddr()
	if err != nil {
		return err
	}
	up, err := start(dir, "upstream", loadCPU, []string{"GOMAXPROCS=1"}, self, "upstream", "--listen", upAddr, "--size", "1024")
	if err != nil {
		return err
	}
	defer up.stop()
	if err := waitTCP(up, upAddr, timeoutStart); err != nil {
		return err
	}
	e := env{self: self, bin: bin, policy: pol, upstream: upAddr}
	var results []result
	for _, t := range targets {
		if s.only != "" && !strings.Contains(","+s.only+",", ","+t.name+",") {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.dir = filepath.Join(dir, t.name)
		os.MkdirAll(e.dir, 0o777)
		r := runTarget(ctx, s, e, t)
		if r.skipped != "" {
			fmt.Fprintf(os.Stderr, "%-11s skipped: %s\n", t.name, r.skipped)
		} else {
			fmt.Fprintf(os.Stderr, "%-11s %8.0f rps saturated, p99 %v at %d rps\n", t.name, r.sat.RPS(), r.rate.Quantile(99), s.rate)
		}
		results = append(results, r)
	}
	return writeReport(s, m, results)
}

// runTarget starts t, warms it up, measures both windows and stops it.
func runTarget(ctx context.Context, s settings, e env, t target) result {
	r := result{target: t}
	if t.skip != nil {
		if why := t.skip(); why != "" {
			r.skipped = why
			return r
		}
	}
	fmt.Fprintf(os.Stderr, "%-11s starting\n", t.name)
	run, err := t.start(e)
	if run != nil {
		defer run.stop()
	}
	if err != nil {
		r.skipped = "failed to start: " + err.Error()
		return r
	}
	r.note = run.note
	c := load.Config{Addr: run.addr, Path: s.path, Header: map[string]string{"X-API-Key": s.key, "User-Agent": "portcullis-bench"}}
	if code, err := load.Probe(c); err != nil || code != 200 {
		r.skipped = fmt.Sprintf("probe failed: status %d, %v", code, err)
		return r
	}
	sat, rate := c, c
	sat.Conns, sat.Duration = s.satConns, s.warmup
	load.Saturate(ctx, sat)
	core0, cpu0 := cpuBusy(proxyCPU), run.proxy.cpuOrZero()
	sat.Duration = s.satDur
	r.sat = load.Saturate(ctx, sat)
	r.satCPU = run.proxy.cpuOrZero() - cpu0
	r.foreign += cpuBusy(proxyCPU) - core0 - r.satCPU

	rate.Conns, rate.Rate, rate.Duration = s.rateConns, s.rate, s.warmup
	load.Constant(ctx, rate)
	core0, cpu0 = cpuBusy(proxyCPU), run.proxy.cpuOrZero()
	rate.Duration = s.rateDur
	r.rate = load.Constant(ctx, rate)
	r.rateCPU = run.proxy.cpuOrZero() - cpu0
	r.foreign += cpuBusy(proxyCPU) - core0 - r.rateCPU
	r.window = r.sat.Elapsed + r.rate.Elapsed
	if s.wrk {
		cpu0, t0 := run.proxy.cpuOrZero(), time.Now()
		r.wrk = wrkRPS(run.addr, s.path, s.key, s.satConns, s.satDur)
		r.wrkCPU, r.wrkElapsed = run.proxy.cpuOrZero()-cpu0, time.Since(t0)
	}
	if run.proxy != nil {
		r.rss = run.proxy.peakRSS()
	}
	if t.name == "portcullis" {
		r.extra = auditFacts(run)
	}
	return r
}

func (p *proc) cpuOrZero() time.Duration {
	if p == nil {
		return 0
	}
	return p.cpu()
}

// onlineCPUs counts the machine's CPUs, not this process's affinity.
func onlineCPUs() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	return strings.Count(string(b), "\nprocessor") + boolInt(strings.HasPrefix(string(b), "processor"))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
