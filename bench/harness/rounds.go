package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/portcullis/portcullis/bench/load"
)

// result is one target's row, accumulated over the rounds.
type result struct {
	target  target
	run     *running
	cfg     load.Config // the request; connections and windows are set per phase
	skipped string
	note    string
	extra   string // target-specific facts (audit delivery)

	sat, rate       load.Result      // merged over the rounds
	lat             load.Result      // the latency windows (--lat-rate, idle CPUs polling), merged
	rateOther       [2]time.Duration // other load on the proxy core and the load core during the rate windows
	latOther        [2]time.Duration // the same during the latency windows
	satRPS, wrkRPS  []float64        // one per round
	satCPU, rateCPU time.Duration    // proxy CPU over the windows
	wrkCPU, wrkWall time.Duration
	foreign, window time.Duration // CPU-0 time not used by the proxy, and wall time, of the Go windows
	rss             int64         // peak RSS of the proxy and its descendants
	wrkFailed       bool

	// The audit collector's CPU over the same windows (nil collector: none):
	// it runs on the load core, so it is reported on a row of its own and
	// not charged to the proxy.
	collSatCPU, collRateCPU time.Duration
	collRSS                 int64
}

// startTarget starts t and checks that it answers 200; a target that is
// missing or fails comes back with skipped set.
func startTarget(s settings, e env, t target) *result {
	r := &result{target: t}
	if t.skip != nil {
		if r.skipped = t.skip(); r.skipped != "" {
			fmt.Fprintf(os.Stderr, "%-11s skipped: %s\n", t.name, r.skipped)
			return r
		}
	}
	fmt.Fprintf(os.Stderr, "%-11s starting\n", t.name)
	run, err := t.start(e)
	r.run = run
	if err != nil {
		r.skipped = "failed to start: " + err.Error()
		fmt.Fprintf(os.Stderr, "%-11s skipped: %s\n", t.name, r.skipped)
		return r
	}
	r.note = run.note
	r.cfg = load.Config{Addr: run.addr, Path: s.path, Header: map[string]string{"X-API-Key": s.key, "User-Agent": "portcullis-bench"}}
	if code, err := load.Probe(r.cfg); err != nil || code != 200 {
		r.skipped = fmt.Sprintf("probe failed: status %d, %v", code, err)
		fmt.Fprintf(os.Stderr, "%-11s skipped: %s\n", t.name, r.skipped)
	}
	return r
}

// measure warms every target up, then runs s.rounds rounds; in each round
// every target gets its share of the saturation, fixed-rate and wrk windows,
// in an order that rotates from round to round. All targets stay up for the
// whole run, so a burst of other work on the machine lands on several
// targets' windows rather than on all of one target's.
func measure(ctx context.Context, s settings, rs []*result, up *proc) (map[string]int64, error) {
	var live []*result
	for _, r := range rs {
		if r.skipped == "" {
			live = append(live, r)
		}
	}
	for _, r := range live {
		fmt.Fprintf(os.Stderr, "%-11s warming up\n", r.target.name)
		load.Saturate(ctx, r.phase(s, false, s.warmup))
		load.Constant(ctx, r.phase(s, true, s.warmup/2))
	}
	idle := map[string]int64{}
	satW, rateW := s.satDur/time.Duration(s.rounds), s.rateDur/time.Duration(s.rounds)
	for round := range s.rounds {
		for i := range live {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			r := live[(i+round)%len(live)]
			r.measureRound(ctx, s, satW, rateW, up, idle)
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", round+1, s.rounds)
	}
	for _, r := range live {
		fmt.Fprintf(os.Stderr, "%-11s %8.0f rps saturated (median of rounds), p99 %v at %d rps, %v at %d rps\n", r.target.name, median(r.satRPS), r.rate.Quantile(99), s.rate, r.lat.Quantile(99), s.latRate)
	}
	return idle, nil
}

// phase returns the load of one window: saturation or fixed rate.
func (r *result) phase(s settings, fixed bool, d time.Duration) load.Config {
	c := r.cfg
	c.Duration = d
	c.Conns = s.satConns
	if fixed {
		c.Conns, c.Rate, c.RealTime = s.rateConns, s.rate, s.rt
	}
	return c
}

func (r *result) measureRound(ctx context.Context, s settings, satW, rateW time.Duration, up *proc, idle map[string]int64) {
	p, coll := r.run.proxy, r.run.collector
	core0, cpu0, coll0 := cpuBusy(proxyCPU), p.cpuOrZero(), coll.cpuOrZero()
	sat := load.Saturate(ctx, r.phase(s, false, satW))
	used := p.cpuOrZero() - cpu0
	r.collSatCPU += coll.cpuOrZero() - coll0
	r.sat.Add(sat)
	r.satRPS = append(r.satRPS, sat.RPS())
	r.satCPU += used
	r.foreign += cpuBusy(proxyCPU) - core0 - used
	r.window += sat.Elapsed

	// The CPU window: the fixed rate of the CPU per 1k req column, with idle
	// CPUs as deployed (halting on a VM).
	o := r.startOther(up)
	core0, cpu0, coll0 = cpuBusy(proxyCPU), p.cpuOrZero(), coll.cpuOrZero()
	rate := load.Constant(ctx, r.phase(s, true, rateW))
	used = p.cpuOrZero() - cpu0
	r.collRateCPU += coll.cpuOrZero() - coll0
	r.rate.Add(rate)
	r.rateCPU += used
	r.foreign += cpuBusy(proxyCPU) - core0 - used
	r.window += rate.Elapsed
	o.add(&r.rateOther)

	// The latency window: its own rate, idle CPUs polling (idlepoll.go).
	if s.latRate > 0 {
		c := r.phase(s, true, rateW)
		c.Rate = s.latRate
		hold := holdIdlePoll(s.idleDevice)
		e0 := idleEntries(cpuSys, proxyCPU, loadCPU)
		o := r.startOther(up)
		r.lat.Add(load.Constant(ctx, c))
		o.add(&r.latOther)
		for k, v := range idleEntries(cpuSys, proxyCPU, loadCPU) {
			idle[k] += v - e0[k]
		}
		hold.release()
	}

	if s.wrk {
		cpu0, t0 := p.cpuOrZero(), time.Now()
		v := wrkRPS(r.run.addr, s.path, s.key, s.satConns, satW)
		r.wrkCPU += p.cpuOrZero() - cpu0
		r.wrkWall += time.Since(t0)
		switch {
		case v < 0:
			r.wrkFailed = true
		case v > 0:
			r.wrkRPS = append(r.wrkRPS, v)
		}
	}
}

// median of vs, 0 when empty.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	v := slices.Clone(vs)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// cpuSys is where the CPUs' cpuidle states are read.
const cpuSys = "/sys/devices/system/cpu"

// otherLoad measures, over one window, the busy time of the proxy core and
// of the load core that the run's own processes did not use: the proxy on
// the proxy core; the harness (the generator), the upstream and the
// collector on the load core. Steal time counts as other load.
type otherLoad struct {
	r               *result
	up              *proc
	core0, core1    time.Duration
	proxy, loadSide time.Duration
}

func (r *result) startOther(up *proc) otherLoad {
	return otherLoad{r: r, up: up, core0: cpuBusy(proxyCPU), core1: cpuBusy(loadCPU),
		proxy: r.run.proxy.cpuOrZero(), loadSide: r.loadSideCPU(up)}
}

// add adds the window's other load on each core to into.
func (o otherLoad) add(into *[2]time.Duration) {
	into[0] += max(cpuBusy(proxyCPU)-o.core0-(o.r.run.proxy.cpuOrZero()-o.proxy), 0)
	into[1] += max(cpuBusy(loadCPU)-o.core1-(o.r.loadSideCPU(o.up)-o.loadSide), 0)
}

// loadSideCPU is the CPU time used so far by the run's processes on the
// load core: this process, the upstream and r's collector.
func (r *result) loadSideCPU(up *proc) time.Duration {
	return selfCPU() + up.cpuOrZero() + r.run.collector.cpuOrZero()
}
