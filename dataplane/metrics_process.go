package dataplane

import (
	"bytes"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"sync"
)

// The go_* and process_* families are written here from runtime/metrics
// and /proc/self rather than by linking prometheus/client_golang into the
// sidecar: a dozen samples do not justify its dependency tree (protobuf
// model, procfs) in a binary that must stay small. The names follow
// client_golang's collectors, so existing dashboards and the pod memory
// limit comparison (process_resident_memory_bytes) work unchanged.

// runtimeSamples are the runtime/metrics read at each scrape, by family.
var runtimeSamples = []struct {
	family, help, typ, sample string
}{
	{"go_goroutines", "Goroutines that currently exist.", "gauge", "/sched/goroutines:goroutines"},
	{"go_threads", "OS threads the Go runtime created.", "gauge", "/sched/threads/total:threads"},
	{"go_sched_gomaxprocs_threads", "GOMAXPROCS: threads that may run Go code at once.", "gauge", "/sched/gomaxprocs:threads"},
	{"go_memstats_heap_alloc_bytes", "Bytes of heap objects, live or not yet swept.", "gauge", "/memory/classes/heap/objects:bytes"},
	{"go_memstats_sys_bytes", "Bytes of memory the Go runtime obtained from the OS.", "gauge", "/memory/classes/total:bytes"},
	{"go_memstats_heap_objects", "Heap objects, live or not yet swept.", "gauge", "/gc/heap/objects:objects"},
	{"go_memstats_alloc_bytes_total", "Bytes allocated on the heap since the process started.", "counter", "/gc/heap/allocs:bytes"},
	{"go_gc_cycles_total", "Completed GC cycles.", "counter", "/gc/cycles/total:gc-cycles"},
	{"go_gc_heap_goal_bytes", "Heap size the current GC cycle aims to end at.", "gauge", "/gc/heap/goal:bytes"},
	{"go_gc_gomemlimit_bytes", "GOMEMLIMIT: the Go runtime's soft memory limit.", "gauge", "/gc/gomemlimit:bytes"},
}

// ProcessFamilies returns go_info, the go_* runtime families and the
// process_* families (Linux /proc; on other systems they carry no samples).
func ProcessFamilies() []Family {
	r := &runtimeReader{}
	fams := []Family{{Name: "go_info", Type: "gauge", Help: "Information about the Go environment.", Samples: func(b []byte) []byte {
		return appendSample(b, `go_info{version="`+runtime.Version()+`"}`, 1)
	}}}
	for i, rs := range runtimeSamples {
		fams = append(fams, Family{Name: rs.family, Type: rs.typ, Help: rs.help, Samples: func(b []byte) []byte {
			return appendFloatSample(b, rs.family, r.value(i))
		}})
	}
	p := &procReader{}
	for _, pf := range []struct{ name, help, typ string }{
		{"process_cpu_seconds_total", "User and system CPU time spent, in seconds.", "counter"},
		{"process_resident_memory_bytes", "Resident memory size in bytes: compare with the pod memory limit.", "gauge"},
		{"process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge"},
		{"process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.", "gauge"},
		{"process_open_fds", "Open file descriptors.", "gauge"},
		{"process_max_fds", "Limit on open file descriptors.", "gauge"},
	} {
		fams = append(fams, Family{Name: pf.name, Type: pf.typ, Help: pf.help, Samples: func(b []byte) []byte {
			if v, ok := p.value(pf.name); ok {
				return appendFloatSample(b, pf.name, v)
			}
			return b
		}})
	}
	return fams
}

// runtimeReader reads runtimeSamples once per scrape: the first family
// of a scrape reads them all, the others reuse that reading.
type runtimeReader struct {
	mu      sync.Mutex // guards the following fields
	samples []rtmetrics.Sample
}

func (r *runtimeReader) value(i int) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.samples == nil {
		r.samples = make([]rtmetrics.Sample, len(runtimeSamples))
		for j, rs := range runtimeSamples {
			r.samples[j].Name = rs.sample
		}
	}
	if i == 0 {
		rtmetrics.Read(r.samples)
	}
	switch v := r.samples[i].Value; v.Kind() {
	case rtmetrics.KindUint64:
		return float64(v.Uint64())
	case rtmetrics.KindFloat64:
		return v.Float64()
	}
	return 0
}

// procReader reads /proc/self once per scrape, when the first process
// family asks.
type procReader struct {
	mu   sync.Mutex // guards the following fields
	vals map[string]float64
}

func (p *procReader) value(name string) (float64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if name == "process_cpu_seconds_total" || p.vals == nil {
		p.vals = readProc()
	}
	v, ok := p.vals[name]
	return v, ok
}

// userHZ is the clock tick of /proc/self/stat times: 100 on every Linux
// architecture Go supports (sysconf(_SC_CLK_TCK); procfs assumes it too).
const userHZ = 100

// readProc reads the process_* values from /proc/self; a value it cannot
// read is left out.
func readProc() map[string]float64 {
	vals := map[string]float64{}
	if stat, err := os.ReadFile("/proc/self/stat"); err == nil {
		readStat(stat, vals)
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		vals["process_open_fds"] = float64(len(ents))
	}
	if lim, err := os.ReadFile("/proc/self/limits"); err == nil {
		if v, ok := maxOpenFiles(lim); ok {
			vals["process_max_fds"] = v
		}
	}
	return vals
}

// readStat reads CPU time, memory sizes and start time from the text of
// /proc/self/stat (proc(5)); fields are counted after the command name,
// which is in parentheses and may hold spaces.
func readStat(stat []byte, vals map[string]float64) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return
	}
	f := bytes.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return
	}
	num := func(field int) float64 {
		v, _ := strconv.ParseFloat(string(f[field-3]), 64)
		return v
	}
	vals["process_cpu_seconds_total"] = (num(14) + num(15)) / userHZ
	vals["process_virtual_memory_bytes"] = num(23)
	vals["process_resident_memory_bytes"] = num(24) * float64(os.Getpagesize())
	if bt, ok := bootTime(); ok {
		vals["process_start_time_seconds"] = bt + num(22)/userHZ
	}
}

// bootTime reads btime, the boot time in Unix seconds, from /proc/stat.
func bootTime() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			t, err := strconv.ParseFloat(string(bytes.TrimSpace(v)), 64)
			return t, err == nil
		}
	}
	return 0, false
}

// maxOpenFiles reads the soft limit of "Max open files" in /proc/self/limits.
func maxOpenFiles(lim []byte) (float64, bool) {
	for line := range bytes.Lines(lim) {
		if v, ok := bytes.CutPrefix(line, []byte("Max open files")); ok {
			f := bytes.Fields(v)
			if len(f) == 0 {
				return 0, false
			}
			if string(f[0]) == "unlimited" {
				return 0, false
			}
			n, err := strconv.ParseFloat(string(f[0]), 64)
			return n, err == nil
		}
	}
	return 0, false
}
