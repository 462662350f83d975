// Command lagprobe measures the schedule lag of load.Constant against one
// address, and of the bare pacer (no HTTP), so the generator's own lateness
// can be told apart from the host's (docs/performance.md, issue 18).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/portcullis/portcullis/bench/load"
)

func main() {
	addr := flag.String("addr", "", "target host:port (empty: pacer only, no HTTP)")
	rate := flag.Int("rate", 1000, "requests per second")
	conns := flag.Int("conns", 16, "connections")
	dur := flag.Duration("dur", 5*time.Second, "window")
	trials := flag.Int("trials", 3, "windows")
	rt := flag.Int("rt", 0, "SCHED_FIFO priority during the window (0: none)")
	keepGC := flag.Bool("keep-gc", false, "leave the GC on during the window")
	flag.Parse()
	for range *trials {
		if *addr == "" {
			pacerOnly(*rate, *dur)
			continue
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		r := load.Constant(context.Background(), load.Config{Addr: *addr, Path: "/v1/users/42", Header: map[string]string{"X-API-Key": "k"}, Conns: *conns, Rate: *rate, Duration: *dur, RealTime: *rt, KeepGC: *keepGC})
		if r.NotRealTime != "" {
			fmt.Println("not real time:", r.NotRealTime)
		}
		runtime.ReadMemStats(&m1)
		n := max(r.Requests, 1)
		fmt.Printf("lag p50 %s p99 %s p99.9 %s max %s | lat p50 %s p99 %s p99.9 %s max %s | wait %s | req %d err %d | GC %d pause %s allocs/req %.2f | lag>p99lat %d\n",
			ms(r.LagQuantile(50)), ms(r.LagQuantile(99)), ms(r.LagQuantile(99.9)), ms(r.MaxLag),
			ms(r.Quantile(50)), ms(r.Quantile(99)), ms(r.Quantile(99.9)), ms(r.Max()), ms(r.MaxWait), r.Requests, r.Errors,
			m1.NumGC-m0.NumGC, time.Duration(m1.PauseTotalNs-m0.PauseTotalNs), float64(m1.Mallocs-m0.Mallocs)/float64(n),
			above(r.Lag, int64(r.Quantile(99))))
	}
}

// above counts the values of h above v.
func above(h *hdrhistogram.Histogram, v int64) int64 {
	if h == nil {
		return 0
	}
	var n int64
	for _, b := range h.Distribution() {
		if b.From > v {
			n += b.Count
		}
	}
	return n
}

// pacerOnly sleeps to each due time and records how late it woke.
func pacerOnly(rate int, dur time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h := hdrhistogram.New(1000, int64(time.Minute), 3)
	iv := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range int(dur / iv) {
		due := start.Add(time.Duration(i) * iv)
		load.SleepUntil(due)
		h.RecordValue(max(int64(time.Since(due)), 1000))
	}
	fmt.Fprintf(os.Stdout, "pacer only: lag p50 %s p99 %s p99.9 %s max %s\n", ms(time.Duration(h.ValueAtQuantile(50))), ms(time.Duration(h.ValueAtQuantile(99))), ms(time.Duration(h.ValueAtQuantile(99.9))), ms(time.Duration(h.Max())))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()*1000) }
