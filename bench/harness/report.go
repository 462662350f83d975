package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/portcullis/portcullis/bench/load"
	"github.com/valyala/fasthttp"
)

// machine is what the results were measured on.
type machine struct {
	date, cpus, model, kernel, goVersion, nginx, haproxy, commit, load string
	busy                                                               float64 // fraction of all CPUs busy just before the run
	idle                                                               string  // the latency windows' idle setting (idleSetting)
}

func describeMachine(bin string) machine {
	m := machine{date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), cpus: fmt.Sprint(onlineCPUs()), goVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	m.kernel = firstLine(exec.Command("uname", "-sr"))
	m.nginx = firstLine(exec.Command("nginx", "-v"))
	m.haproxy = firstLine(exec.Command("haproxy", "-v"))
	m.commit = firstLine(exec.Command("git", "describe", "--always", "--dirty"))
	m.load = loadavg()
	return m
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func firstLine(cmd *exec.Cmd) string {
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) == 0 {
		return "not installed"
	}
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return l
}

// auditFacts reports what became of Portcullis's audit records, read
// before the sidecar stops.
func auditFacts(r *running) string {
	time.Sleep(1500 * time.Millisecond) // a flush interval or two
	code, body, err := fasthttp.GetTimeout(nil, "http://"+r.admin+"/metrics", 2*time.Second)
	if err != nil || code != 200 {
		return fmt.Sprintf("audit: cannot read /metrics: %v (status %d)", err, code)
	}
	var facts []string
	for _, l := range strings.Split(string(body), "\n") {
		// dropped_total is what the sink refused (its slots full): the
		// figure that says whether the audit path kept up (issue 18).
		if strings.HasPrefix(l, "portcullis_audit_records_total{") || strings.HasPrefix(l, "portcullis_audit_spool_records") ||
			strings.HasPrefix(l, "portcullis_audit_dropped_total ") {
			facts = append(facts, strings.TrimPrefix(l, "portcullis_audit_"))
		}
	}
	if r.audit != "" {
		b, _ := os.ReadFile(r.audit)
		return fmt.Sprintf("audit file: %d records written; %s", bytes.Count(b, []byte("\n")), strings.Join(facts, ", "))
	}
	if len(facts) == 0 {
		return "audit: no portcullis_audit_* metrics exposed"
	}
	return "audit counters: " + strings.Join(facts, ", ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// cpuPer1k is CPU seconds per 1,000 requests (= vCPU per 1,000 rps).
func cpuPer1k(cpu time.Duration, reqs uint64) string {
	if reqs == 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", cpu.Seconds()*1000/float64(reqs))
}

func writeReport(s settings, m machine, rs []*result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# End-to-end benchmark, %s\n\n", m.date)
	fmt.Fprintf(&b, "Machine: %s CPUs, %s, %s. Go %s; %s; %s. Commit %s. Load average at start: %s, CPUs %.0f%% busy just before the run (other work on the machine makes absolute numbers noisy: compare ratios within this run).\n\n",
		m.cpus, m.model, m.kernel, m.goVersion, m.nginx, m.haproxy, m.commit, m.load, m.busy*100)
	pin := "each proxy pinned to CPU 0 (`taskset -c 0`) with one worker (GOMAXPROCS=1, worker_processes 1, nbthread 1); the upstream, the audit collector and the load generator pinned to CPU 1"
	if niceness != 0 {
		pin += fmt.Sprintf("; every process of the run at niceness %d, so other work on the machine interferes less", niceness)
	}
	if !pinning {
		pin = "NOT PINNED (fewer than 2 CPUs or no taskset): results are not comparable"
	}
	fmt.Fprintf(&b, "Settings: %s. Request `GET %s` with `X-API-Key`, 1 KiB response. Saturation: closed loop, %d connections, %v per target (Go generator, then wrk, %v each) after %v warm-up. Fixed rate: open loop over %d connections, latency from the intended send time (HDR histogram, coordinated omission corrected), %v per target at %d rps (the CPU window)%s. All targets run side by side; each target's windows are cut into %d rounds interleaved with the other targets' (rotating order), so a burst of other work on the machine is spread over the targets. Throughput is the median of the rounds; latency merges all rounds.\n\n",
		pin, s.path, s.satConns, s.satDur, s.satDur, s.warmup, s.rateConns, s.rateDur, s.rate, latencyWindow(s), s.rounds)
	b.WriteString(generatorNote(s, rs) + "\n\n")
	if m.idle != "" {
		b.WriteString(m.idle + "\n\n")
	}

	writeTables(&b, rs, s.rate, s.latRate)
	b.WriteString("\nTargets:\n\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "- **%s**: %s.", r.target.name, r.target.desc)
		if len(r.satRPS) > 0 {
			fmt.Fprintf(&b, " Saturation rps per round (Go): %s; (wrk): %s.", rounds(r.satRPS), rounds(r.wrkRPS))
		}
		if r.skipped != "" {
			fmt.Fprintf(&b, " Skipped: `%s`.", strings.ReplaceAll(r.skipped, "\n", " / "))
		}
		if r.note != "" {
			fmt.Fprintf(&b, " %s.", r.note)
		}
		if r.extra != "" {
			fmt.Fprintf(&b, " %s.", r.extra)
		}
		if r.skipped == "" {
			fmt.Fprintf(&b, " Fixed rate: %d answered at %d rps, %d at %d rps.", r.rate.Requests, s.rate, r.lat.Requests, s.latRate)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nColumns: *vs* columns are saturation throughput ratios. *proxy CPU at saturation* near 1.00 means the proxy's core was the bottleneck; well below 1.00 means the load core (generator + upstream) was, and the proxy's throughput is a lower bound. *CPU s per 1k req* is the proxy's utime+stime (/proc/<pid>/stat) over the fixed-rate window per 1,000 requests, which equals vCPU per 1,000 rps. *peak RSS* is VmHWM. *wrk rps* is a second saturation measurement with wrk (C, one thread, same connections and duration), cheaper on the load core than the Go generator. *other load on proxy core* is the busy time of CPU 0 (/proc/stat) not spent by the proxy during its Go-generator windows (the other, idle, proxies count as other load): anything above a few percent means other work competed with the proxy and its numbers are pessimistic. *errors* counts transport errors and non-2xx answers in all of the target's Go windows. Latency tables: *schedule lag* is the generator's own lateness (how late a request went out that had a free connection at its due time), at p99, p99.9 and at worst; *longest wait for a connection* is how long a due request waited because all connections were busy with the target (counted as latency); *other load* is the busy time (user, system, steal) of the proxy core and of the load core during those windows not used by the proxy, resp. the generator, upstream and collector; *validity*: `invalid` when the schedule lag's p99.9 exceeds half the p99 (more than 1 request in 1,000 went out later than half the p99 after its due time, so the p99 may measure the generator; the largest lag, set by a few stalls of the host, is not the test), `noisy` when other load exceeded %d%% on either core (the figures include other work's), `valid` otherwise; only valid rows are to be quoted. Load average at the end: %s.\n", noisyPercent, loadavg())

	if err := os.MkdirAll(s.out, 0o755); err != nil {
		return err
	}
	name := resultName(s.out, time.Now().UTC())
	for _, p := range []string{name, filepath.Join(s.out, "latest.md")} {
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	fmt.Print(b.String())
	fmt.Fprintf(os.Stderr, "wrote %s and %s\n", name, filepath.Join(s.out, "latest.md"))
	return nil
}

// resultName is DIR/<date>.md, or DIR/<date>-<hhmm>.md when a run of the
// same day is already there: a second run of a day does not overwrite the
// first, which the README may quote.
func resultName(dir string, now time.Time) string {
	name := filepath.Join(dir, now.Format("2006-01-02")+".md")
	if _, err := os.Stat(name); err == nil {
		name = filepath.Join(dir, now.Format("2006-01-02-1504")+".md")
	}
	return name
}

// latencyWindow describes the latency windows for the settings line, or
// nothing when there are none.
func latencyWindow(s settings) string {
	if s.latRate <= 0 {
		return ""
	}
	return fmt.Sprintf(" and %v per target at %d rps (the latency window)", s.rateDur, s.latRate)
}

// baseline returns f of the named target's result, or 0 when it did not run.
func baseline(rs []*result, name string, f func(*result) float64) float64 {
	for _, r := range rs {
		if r.target.name == name && r.skipped == "" {
			return f(r)
		}
	}
	return 0
}

// writeTables writes the throughput and the latency table.
func writeTables(b *strings.Builder, rs []*result, rate, latRate int) {
	goRPS := func(r *result) float64 { return median(r.satRPS) }
	wrkRPS := func(r *result) float64 { return median(r.wrkRPS) }
	b.WriteString("## Throughput and cost (one proxy core)\n\n")
	b.WriteString("| target | rps (Go generator) | vs bare | vs nginx | vs haproxy | rps (wrk) | vs bare | vs nginx | vs haproxy | proxy CPU at saturation, Go / wrk (cores) | CPU s per 1k req | peak RSS MB | other load on proxy core |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rs {
		if r.skipped != "" {
			why, _, _ := strings.Cut(r.skipped, "\n")
			fmt.Fprintf(b, "| %s | skipped: %s |||||||||||\n", r.target.name, strings.ReplaceAll(why, "|", "/"))
			continue
		}
		b.WriteString("| " + r.target.name)
		for _, f := range []func(*result) float64{goRPS, wrkRPS} {
			v := f(r)
			if v == 0 {
				if r.wrkFailed {
					b.WriteString(" | errors | – | – | –")
					continue
				}
				b.WriteString(" | – | – | – | –")
				continue
			}
			fmt.Fprintf(b, " | %.0f | %s | %s | %s", v, ratio(v, baseline(rs, "bare-proxy", f)),
				ratio(v, baseline(rs, "nginx", f)), ratio(v, baseline(rs, "haproxy", f)))
		}
		util, per1k, rss, other := "–", "–", "–", "–"
		if r.target.name != "direct" {
			util = fmt.Sprintf("%.2f", r.satCPU.Seconds()/r.sat.Elapsed.Seconds())
			if r.wrkWall > 0 {
				util += fmt.Sprintf(" / %.2f", r.wrkCPU.Seconds()/r.wrkWall.Seconds())
			}
			per1k = cpuPer1k(r.rateCPU, r.rate.Requests)
			rss = fmt.Sprintf("%.1f", float64(r.rss)/(1<<20))
		}
		if r.window > 0 {
			other = fmt.Sprintf("%.0f%%", 100*max(r.foreign.Seconds(), 0)/r.window.Seconds())
		}
		fmt.Fprintf(b, " | %s | %s | %s | %s |\n", util, per1k, rss, other)
		if r.run != nil && r.run.collector != nil {
			writeCollectorRow(b, r)
		}
	}
	writePerCore(b, rs)

	if latRate > 0 {
		writeLatency(b, rs, fmt.Sprintf("Latency at %d rps, idle CPUs polling (the latency window; open loop, from the intended send time)", latRate),
			func(r *result) (load.Result, [2]time.Duration) { return r.lat, r.latOther })
		writeLatency(b, rs, fmt.Sprintf("Latency at %d rps, idle CPUs as deployed (the CPU window)", rate),
			func(r *result) (load.Result, [2]time.Duration) { return r.rate, r.rateOther })
		return
	}
	writeLatency(b, rs, fmt.Sprintf("Latency at %d rps (open loop, from the intended send time)", rate),
		func(r *result) (load.Result, [2]time.Duration) { return r.rate, r.rateOther })
}

// perCore is the requests a target served at saturation per second of its
// own CPU (Go generator, wrk); 0 when it did not run or used no CPU.
func perCore(r *result) (goRate, wrkRate float64) {
	if r.satCPU > 0 {
		goRate = float64(r.sat.Requests) / r.satCPU.Seconds()
	}
	if r.wrkCPU > 0 && len(r.wrkRPS) > 0 {
		var sum float64
		for _, v := range r.wrkRPS {
			sum += v
		}
		wrkRate = sum / float64(len(r.wrkRPS)) * r.wrkWall.Seconds() / r.wrkCPU.Seconds()
	}
	return goRate, wrkRate
}

// writePerCore writes the saturation throughput per second of the proxy's
// own CPU: what a target costs per request whatever limited the load. A
// target whose load core was the bottleneck (the collector's target, with
// the collector beside the generator) has its cost compared here with the
// CPU it did use (issue 18: the collector's CPU accounted for).
func writePerCore(b *strings.Builder, rs []*result) {
	goRate := func(r *result) float64 { g, _ := perCore(r); return g }
	wrkRate := func(r *result) float64 { _, w := perCore(r); return w }
	b.WriteString("\n### Requests per second of proxy CPU at saturation (the cost per request, whatever limited the load)\n\n")
	b.WriteString("| target | req per CPU-s (Go generator) | vs bare | vs nginx | vs haproxy | req per CPU-s (wrk) | vs bare | vs nginx | vs haproxy |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rs {
		if r.skipped != "" || r.target.name == "direct" {
			continue
		}
		b.WriteString("| " + r.target.name)
		for _, f := range []func(*result) float64{goRate, wrkRate} {
			v := f(r)
			if v == 0 {
				b.WriteString(" | – | – | – | –")
				continue
			}
			fmt.Fprintf(b, " | %.0f | %s | %s | %s", v, ratio(v, baseline(rs, "bare-proxy", f)),
				ratio(v, baseline(rs, "nginx", f)), ratio(v, baseline(rs, "haproxy", f)))
		}
		b.WriteString(" |\n")
	}
}

// noisyPercent is the other load, in percent of a core, above which a
// latency row is marked noisy.
const noisyPercent = 5

// writeLatency writes one latency table over the windows pick returns: the
// merged result and the other load on the proxy and the load core.
func writeLatency(b *strings.Builder, rs []*result, title string, pick func(*result) (load.Result, [2]time.Duration)) {
	var direct *load.Result
	for _, r := range rs {
		if r.target.name == "direct" && r.skipped == "" {
			d, _ := pick(r)
			direct = &d
		}
	}
	directInvalid := direct != nil && lagInvalid(*direct)
	fmt.Fprintf(b, "\n## %s\n\n", title)
	b.WriteString("| target | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | p50 added over direct ms | p99 added over direct ms | schedule lag p99 / p99.9 / max ms | longest wait for a connection ms | other load, proxy / load core | validity | errors |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|\n")
	for _, r := range rs {
		if r.skipped != "" {
			continue
		}
		w, other := pick(r)
		p99, add50, add99 := ms(w.Quantile(99)), "–", "–"
		if r.target.name != "direct" && direct != nil && direct.Quantile(99) > 0 {
			add50 = ms(w.Quantile(50) - direct.Quantile(50))
			add99 = ms(w.Quantile(99) - direct.Quantile(99))
		}
		if lagInvalid(w) {
			p99 = "invalid: lag > p99/2 (" + p99 + ")"
		}
		if add99 != "–" && (lagInvalid(w) || directInvalid) {
			add99 = "invalid"
		}
		o0, o1 := otherPercent(other[0], w.Elapsed), otherPercent(other[1], w.Elapsed)
		errs := r.sat.Errors + r.sat.Non2xx + r.rate.Errors + r.rate.Non2xx + r.lat.Errors + r.lat.Non2xx
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s | %.0f%% / %.0f%% | %s | %d |\n", r.target.name,
			ms(w.Quantile(50)), ms(w.Quantile(90)), p99, ms(w.Quantile(99.9)), ms(w.Max()),
			add50, add99, ms(w.LagQuantile(99)), ms(w.LagQuantile(lagQuantile)), ms(w.MaxLag), ms(w.MaxWait), o0, o1, validity(w, o0, o1), errs)
	}
}

// otherPercent is other load over a window's wall time, in percent of a core.
func otherPercent(other, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * other.Seconds() / wall.Seconds()
}

// validity says whether a latency row may be quoted: invalid when the
// generator fell further behind its schedule than the p99 it measured,
// noisy when other work took more than noisyPercent of either core.
func validity(w load.Result, other0, other1 float64) string {
	switch {
	case lagInvalid(w):
		return "invalid: lag > p99/2"
	case other0 > noisyPercent || other1 > noisyPercent:
		return "noisy: other load"
	}
	return "valid"
}

// lagInvalid reports whether more than one request in a thousand went out
// later after its due time than half the p99 measured (the lag's p99.9
// above p99/2): such a request is above the p99, or near it, mostly by the
// generator's lateness (its latency includes its lag), and when they are a
// tenth of the 1% of requests above the p99, the p99 measures the generator
// (or the load core), not the target, and is not to be quoted (issue 18).
// Half, not the whole p99: a latency is never below its lag, so a
// generator late on more than 1% of its requests makes the p99 about its
// lag, which "lag > p99" would pass. The largest lag alone is not the test:
// it is set by a few stalls of the host (a 4 ms stall makes about 4 of
// 10,000 requests late at 1,000 rps), which cannot make a p99 by
// themselves; docs/performance.md, "Schedule lag of the fixed-rate
// generator".
func lagInvalid(w load.Result) bool { return 2*w.LagQuantile(lagQuantile) > w.Quantile(99) }

// lagQuantile is the percentile of the schedule lag compared with the p99.
const lagQuantile = 99.9

// writeCollectorRow writes the row of the audit collector r's proxy sent
// to: its CPU on the load core over the proxy's saturation windows and per
// 1,000 requests at the fixed rate, and its peak RSS (issue 18: the
// collector's CPU on its own row, not hidden in the load core's).
func writeCollectorRow(b *strings.Builder, r *result) {
	util := "–"
	if r.sat.Elapsed > 0 {
		util = fmt.Sprintf("%.2f", r.collSatCPU.Seconds()/r.sat.Elapsed.Seconds())
	}
	fmt.Fprintf(b, "| %s: its collector (load core) | – | – | – | – | – | – | – | – | %s | %s | %.1f | – |\n",
		r.target.name, util, cpuPer1k(r.collRateCPU, r.rate.Requests), float64(r.collRSS)/(1<<20))
}

func rounds(vs []float64) string {
	if len(vs) == 0 {
		return "–"
	}
	var parts []string
	for _, v := range vs {
		parts = append(parts, fmt.Sprintf("%.0f", v))
	}
	return strings.Join(parts, ", ")
}

// generatorNote is the report's sentence on how the fixed-rate generator
// kept its schedule: its threads' scheduling class, or why it was not set.
func generatorNote(s settings, rs []*result) string {
	const gc = " Its garbage collector runs once before each fixed-rate window and is off during it."
	if s.rt <= 0 {
		return "Fixed-rate windows: the generator at the default scheduling class (--rt 0): woken at a due time it waits for the core behind the upstream and any other work there, which is schedule lag." + gc
	}
	for _, r := range rs {
		for _, why := range []string{r.rate.NotRealTime, r.lat.NotRealTime} {
			if why != "" {
				return "Fixed-rate windows: real-time scheduling of the generator NOT applied (" + why + "): woken at a due time it waits for the core behind the upstream and any other work there, which is schedule lag." + gc
			}
		}
	}
	return fmt.Sprintf("Fixed-rate windows: every thread of the generator at SCHED_FIFO %d (back to niceness %d between them), so at a due time it preempts the upstream, the collector and any other work on the load core instead of waiting for a time slice.", s.rt, niceness) + gc
}
