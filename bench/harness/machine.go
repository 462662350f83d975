package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// cpuBusy returns the time one CPU spent running tasks so far (user, nice,
// system) or stolen by the hypervisor, from /proc/stat. Interrupt and
// softirq time is left out: on loopback much of it is the proxy's own
// traffic, which is not charged to any process.
func cpuBusy(cpu int) time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	prefix := "cpu" + strconv.Itoa(cpu) + " "
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		var busy int64
		for i, f := range strings.Fields(l)[1:] {
			v, _ := strconv.ParseInt(f, 10, 64)
			if i <= 2 || i == 7 { // user, nice, system, steal; guest is already in user
				busy += v
			}
		}
		return time.Duration(busy) * time.Second / clockTicks
	}
	return 0
}

// machineBusy is the busy fraction of all CPUs over d.
func machineBusy(d time.Duration) float64 {
	n := onlineCPUs()
	var before time.Duration
	for i := range n {
		before += cpuBusy(i)
	}
	time.Sleep(d)
	var after time.Duration
	for i := range n {
		after += cpuBusy(i)
	}
	return (after - before).Seconds() / d.Seconds() / float64(n)
}

// waitQuiet waits up to limit for the machine to be less than a fifth busy
// (other engineers' builds and tests), and returns the busy fraction seen
// last: it goes into the results either way.
func waitQuiet(limit time.Duration) float64 {
	deadline := time.Now().Add(limit)
	for {
		b := machineBusy(time.Second)
		if b < 0.2 || time.Now().After(deadline) {
			return b
		}
		fmt.Fprintf(os.Stderr, "harness: machine %.0f%% busy, waiting for it to calm down (up to %v)\n", b*100, time.Until(deadline).Round(time.Second))
	}
}

// wrkRPS runs wrk (when installed) against addr as a second opinion on
// saturation throughput: it is written in C and costs the load core less
// than the Go generator. It returns 0 when wrk is missing or fails.
func wrkRPS(addr, path, key string, conns int, d time.Duration) float64 {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return 0
	}
	out, err := exec.Command(wrk, "-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())),
		"-H", "X-API-Key: "+key, "-H", "User-Agent: portcullis-bench", "http://"+addr+path).CombinedOutput()
	if err != nil {
		return 0
	}
	var rps float64
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Requests/sec:"); ok {
			rps, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
		if strings.Contains(l, "Non-2xx") || strings.Contains(l, "Socket errors") {
			return -1
		}
	}
	return rps
}

// onlineCPUs counts the machine's CPUs, not this process's affinity.
func onlineCPUs() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	n := strings.Count(string(b), "\nprocessor")
	if strings.HasPrefix(string(b), "processor") {
		n++
	}
	return n
}
