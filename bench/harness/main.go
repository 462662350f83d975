// Command harness runs the end-to-end load benchmark of issue 7: it starts
// each target on loopback (the upstream directly, a bare fasthttp proxy,
// Portcullis, nginx, HAProxy), loads it with bench/load in closed-loop
// saturation and at a constant rate, measures the proxy process from /proc,
// and writes a Markdown table to --out/<date>.md (<date>-<hhmm>.md for a
// second run of the day) and --out/latest.md.
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
	"strings"
	"syscall"
	"time"
)

// timeoutStart bounds how long a target may take to listen.
const timeoutStart = 15 * time.Second

// pinning is false on machines with one CPU or without taskset.
var pinning = true

// niceness is given to every process of the run (harness, wrk, upstream,
// collector, proxies) so that other work on a shared machine (builds, tests)
// takes less of their cores. Without it, under contention, CFS gives a
// single-threaded proxy (nginx, HAProxy) a smaller share of its core than a
// Go proxy, whose syscalls run on extra threads.
var niceness = -10

// settings are the knobs of one run, recorded with its results.
type settings struct {
	bin, policy, out, only  string
	satDur, rateDur, warmup time.Duration
	satConns, rateConns     int
	rate                    int
	latRate                 int    // rate of the latency windows (0: none)
	idleDevice              string // the PM QoS device held during the latency windows
	path, key               string
	wrk                     bool
	rounds                  int
	quietWait               time.Duration
	rt                      int // SCHED_FIFO priority of the generator in the fixed-rate windows (0: none)
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
	fs.IntVar(&s.rate, "rate", 2000, "constant rate of the CPU windows, requests per second")
	fs.IntVar(&s.latRate, "lat-rate", 1000, "constant rate of the latency windows, requests per second (0: no latency windows)")
	fs.StringVar(&s.idleDevice, "idle-device", cpuDMALatency, "PM QoS `device` held at 0 during the latency windows so idle CPUs poll (empty: do not)")
	fs.IntVar(&s.rt, "rt", 50, "SCHED_FIFO `priority` of the load generator during the fixed-rate windows, so it keeps its schedule (0: none; needs root)")
	fs.StringVar(&s.path, "path", "/v1/users/42", "request path")
	fs.StringVar(&s.key, "key", demoKeys[0].key, "API key sent as X-API-Key")
	fs.IntVar(&s.rounds, "rounds", 5, "rounds: each target's windows are split into this many slices, interleaved with the other targets'")
	fs.IntVar(&niceness, "nice", niceness, "niceness of every process of the run (0: leave alone; negative needs root)")
	fs.BoolVar(&s.wrk, "wrk", true, "also measure saturation with wrk when it is installed")
	fs.DurationVar(&s.quietWait, "quiet-wait", time.Minute, "how long to wait for the machine to be idle before starting")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s.rounds = max(s.rounds, 1)
	if os.Geteuid() != 0 && niceness < 0 {
		niceness = 0
	}
	if err := pinSelf(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return bench(ctx, s)
}

// pinSelf re-runs the harness under `taskset -c 1` (so the load generator
// and what it starts stay off the proxies' core) and under `nice`; the
// re-run inherits both and passes them on to what it starts.
func pinSelf() error {
	if v := os.Getenv("BENCH_HARNESS_PINNED"); v != "" {
		pinning = v == "1"
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	argv := append([]string{self}, os.Args[1:]...)
	mark := "1"
	if taskset, err := exec.LookPath("taskset"); err != nil || onlineCPUs() < 2 {
		fmt.Fprintln(os.Stderr, "harness: fewer than 2 CPUs or no taskset: running unpinned (results are not comparable)")
		mark = "0"
	} else {
		argv = append([]string{taskset, "-c", fmt.Sprint(loadCPU)}, argv...)
	}
	if niceness != 0 {
		argv = append([]string{"nice", "-n", fmt.Sprint(niceness)}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "BENCH_HARNESS_PINNED="+mark, "GOMAXPROCS=1")
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
	var rs []*result
	for _, t := range targets {
		if s.only != "" && !strings.Contains(","+s.only+",", ","+t.name+",") {
			continue
		}
		e.dir = filepath.Join(dir, t.name)
		os.MkdirAll(e.dir, 0o777)
		r := startTarget(s, e, t)
		if r.run != nil {
			defer r.run.stop()
		}
		rs = append(rs, r)
	}
	idle, err := measure(ctx, s, rs, up)
	if err != nil {
		return err
	}
	m.idle = idleSetting(s, idle)
	for _, r := range rs {
		if r.run != nil && r.run.proxy != nil {
			r.rss = r.run.proxy.peakRSS()
		}
		if r.run != nil && r.run.collector != nil {
			r.collRSS = r.run.collector.peakRSS()
		}
		if r.skipped == "" && strings.HasPrefix(r.target.name, "portcullis") {
			r.extra = auditFacts(r.run)
		}
	}
	return writeReport(s, m, rs)
}
