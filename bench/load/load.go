// Package load is the HTTP load generator of the end-to-end benchmarks.
//
// It has two modes. Saturate is closed loop: Conns workers each send a
// request, wait for the answer and send the next, for a fixed duration; the
// result is the throughput the target sustains. Constant is open loop: sends
// are scheduled at fixed intervals (Rate per second) from one shared
// schedule, and each latency is measured from the request's *intended* send
// time, so a target that stalls is charged for every request that should
// have gone out during the stall (coordinated omission, as in wrk2).
//
// Both modes use one fasthttp.HostClient with at most Conns keep-alive
// connections and reuse their request and response objects, so the
// generator does not allocate per request. A Config is read-only while a run
// is in progress; runs are independent and safe to start from any goroutine.
package load

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// Config describes the requests of a run and how many connections carry them.
type Config struct {
	Addr     string            // host:port of the target
	Method   string            // GET when empty
	Path     string            // request target, e.g. /v1/users/42
	Host     string            // Host header; Addr when empty
	Header   map[string]string // extra request headers (credentials)
	Conns    int               // connections and workers (1 when <= 0)
	Duration time.Duration     // measured window
	Rate     int               // requests per second (Constant only)
	Timeout  time.Duration     // per request (5s when zero)
	// RealTime, when above 0, is the SCHED_FIFO priority the process's
	// threads run at during Constant (see realtime; needs root). 0 leaves
	// the scheduling alone.
	RealTime int
	// KeepGC leaves the garbage collector on during Constant, which
	// otherwise collects once before the window and is off during it
	// (the generator's pauses are schedule lag). For measuring that.
	KeepGC bool
}

// Result is what one run measured.
type Result struct {
	Requests uint64        // answered with a 2xx status
	Non2xx   uint64        // answered with another status
	Errors   uint64        // transport errors and timeouts
	Elapsed  time.Duration // wall time of the measured window
	// Latency holds the latency of every answered request in nanoseconds
	// (Constant: from the intended send time; Saturate: from the actual
	// send). Nil when nothing was answered.
	Latency *hdrhistogram.Histogram
	// MaxLag is the schedule lag (Constant only): the largest delay between
	// a request's due time and its send, among requests that had a free
	// connection waiting at their due time. It is the generator's own
	// lateness (its timer, its scheduler, the load core); a latency below it
	// measures the generator, not the target.
	MaxLag time.Duration
	// Lag holds the schedule lag of every request sent with a connection
	// free at its due time, in nanoseconds (Constant only; nil otherwise),
	// so that rare stalls can be told from a generator that is always late.
	Lag *hdrhistogram.Histogram
	// MaxWait is the longest a due request waited because every connection
	// was busy with the target (Constant only). The wait is counted in the
	// request's latency, as a real client at that rate would see it.
	MaxWait time.Duration
	// NotRealTime says why Config.RealTime was not applied (Constant only;
	// empty when it was, or was not asked for).
	NotRealTime string
}

// RPS is the rate of 2xx answers over the measured window.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Quantile returns the latency at percentile q (0-100).
func (r Result) Quantile(q float64) time.Duration {
	if r.Latency == nil {
		return 0
	}
	return time.Duration(r.Latency.ValueAtQuantile(q))
}

// Max returns the largest latency recorded.
func (r Result) Max() time.Duration {
	if r.Latency == nil {
		return 0
	}
	return time.Duration(r.Latency.Max())
}

// newHistogram tracks 1 µs to 60 s with three significant digits.
func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1000, int64(60*time.Second), 3)
}

func (c *Config) client() *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          c.Addr,
		MaxConns:                      max(c.Conns, 1),
		ReadTimeout:                   c.timeout(),
		WriteTimeout:                  c.timeout(),
		MaxIdleConnDuration:           time.Minute,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		MaxConnWaitTimeout:            c.timeout(),
	}
}

func (c *Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 5 * time.Second
	}
	return c.Timeout
}

// fill writes the request of c into req.
func (c *Config) fill(req *fasthttp.Request) {
	req.Reset()
	method := c.Method
	if method == "" {
		method = fasthttp.MethodGet
	}
	req.Header.SetMethod(method)
	req.SetRequestURI(c.Path)
	host := c.Host
	if host == "" {
		host = c.Addr
	}
	req.Header.SetHost(host)
	for k, v := range c.Header {
		req.Header.Set(k, v)
	}
}

// counters are shared by the workers of one run.
type counters struct {
	ok, non2xx, errs atomic.Uint64
	maxLag, maxWait  atomic.Int64
}

func (n *counters) count(resp *fasthttp.Response, err error) bool {
	switch {
	case err != nil:
		n.errs.Add(1)
		return false
	case resp.StatusCode() < 200 || resp.StatusCode() > 299:
		n.non2xx.Add(1)
		return false
	}
	n.ok.Add(1)
	return true
}

// sent records how late, after its due time, a request went out. When a
// worker was free at the due time (queued false) the delay is the
// generator's own: schedule lag. Otherwise every connection was busy with
// the target and the delay is the target's: it is latency, and only the
// largest such wait is kept, for the record.
func (n *counters) sent(late time.Duration, queued bool) {
	if queued {
		raise(&n.maxWait, late)
		return
	}
	raise(&n.maxLag, late)
}

// raise sets m to d when d is larger.
func raise(m *atomic.Int64, d time.Duration) {
	for {
		cur := m.Load()
		if int64(d) <= cur || m.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// Probe sends one request and returns its status, so a harness can check
// that a target answers 2xx before loading it.
func Probe(c Config) (int, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	c.fill(req)
	cl := c.client()
	defer cl.CloseIdleConnections()
	if err := cl.DoTimeout(req, resp, c.timeout()); err != nil {
		return 0, fmt.Errorf("cannot probe %s%s: %w", c.Addr, c.Path, err)
	}
	return resp.StatusCode(), nil
}

// run starts Conns workers running work until ctx ends and merges their
// histograms.
// The work function records latencies in h and schedule lags in lag.
func run(ctx context.Context, c Config, work func(ctx context.Context, cl *fasthttp.HostClient, h, lag *hdrhistogram.Histogram, n *counters)) Result {
	cl := c.client()
	defer cl.CloseIdleConnections()
	var (
		n    counters
		wg   sync.WaitGroup
		mu   sync.Mutex // guards all and lags
		all  = newHistogram()
		lags = newHistogram()
	)
	start := time.Now()
	for range max(c.Conns, 1) {
		wg.Go(func() {
			h, lag := newHistogram(), newHistogram()
			work(ctx, cl, h, lag, &n)
			mu.Lock()
			all.Merge(h)
			lags.Merge(lag)
			mu.Unlock()
		})
	}
	wg.Wait()
	r := Result{Requests: n.ok.Load(), Non2xx: n.non2xx.Load(), Errors: n.errs.Load(),
		Elapsed: time.Since(start), MaxLag: time.Duration(n.maxLag.Load()), MaxWait: time.Duration(n.maxWait.Load())}
	if all.TotalCount() > 0 {
		r.Latency = all
	}
	if lags.TotalCount() > 0 {
		r.Lag = lags
	}
	return r
}

// Saturate runs the closed loop for c.Duration (or until ctx ends).
func Saturate(ctx context.Context, c Config) Result {
	ctx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	return run(ctx, c, func(ctx context.Context, cl *fasthttp.HostClient, h, _ *hdrhistogram.Histogram, n *counters) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		c.fill(req)
		for ctx.Err() == nil {
			t0 := time.Now()
			err := cl.Do(req, resp)
			if n.count(resp, err) {
				h.RecordValue(int64(time.Since(t0)))
			}
		}
	})
}

// Constant runs the open loop at c.Rate requests per second for c.Duration.
// Request i is due at start + i/Rate. One pacer releases each request at its
// due time to the workers (one per connection); a free worker sends it and
// records the latency from the due time. When every worker is busy, released
// requests wait and their waiting counts as latency, which is what a real
// client at that rate would see (Result.MaxWait).
//
// The pacer sleeps the last 2 ms before a due time in clock_nanosleep (see
// sleepUntil), a system call that keeps its Go P; with GOMAXPROCS 1 that
// would hold every worker and every response off the CPU for as long, and
// charge the target for the generator. Constant therefore raises GOMAXPROCS
// to 2 for the run (the process may stay pinned to one CPU) and restores it.
func Constant(ctx context.Context, c Config) Result {
	if c.Rate <= 0 {
		panic("BUG: load.Constant needs a positive Rate")
	}
	if prev := runtime.GOMAXPROCS(0); prev < 2 {
		runtime.GOMAXPROCS(2)
		defer runtime.GOMAXPROCS(prev)
	}
	if !c.KeepGC {
		gcOff()
		defer gcOn()
	}
	var notRT string
	if c.RealTime > 0 {
		if err := rtOn(c.RealTime); err != nil {
			notRT = err.Error()
		} else {
			defer rtOff()
		}
	}
	interval := time.Second / time.Duration(c.Rate)
	s := newSchedule(interval, int(c.Duration/interval), max(c.Conns, 1))
	go s.pace(ctx)
	r := run(ctx, c, func(ctx context.Context, cl *fasthttp.HostClient, h, lag *hdrhistogram.Histogram, n *counters) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		c.fill(req)
		w := sender{cl: cl, req: req, resp: resp, h: h, lag: lag, n: n}
		for {
			s.idle.Add(1)
			i, ok := <-s.due
			s.idle.Add(-1)
			if !ok || ctx.Err() != nil {
				return
			}
			w.send(s.at(i), s.queued[i])
		}
	})
	r.NotRealTime = notRT
	return r
}

// sender is one fixed-rate worker's send path: its connection's request
// and response, and where it records.
type sender struct {
	cl     *fasthttp.HostClient
	req    *fasthttp.Request
	resp   *fasthttp.Response
	h, lag *hdrhistogram.Histogram
	n      *counters
}

// send sends the request due at due and records its schedule lag (unless
// queued: every connection was busy at due) and its latency from due. It
// allocates nothing (TestConstantSendAllocatesNothing).
func (w *sender) send(due time.Time, queued bool) {
	late := time.Since(due)
	w.n.sent(late, queued)
	if !queued {
		w.lag.RecordValue(max(int64(late), 1000))
	}
	err := w.cl.Do(w.req, w.resp)
	if w.n.count(w.resp, err) {
		w.h.RecordValue(int64(time.Since(due)))
	}
}

// quiet is what Constant changes in the whole process for the length of a
// run (the garbage collector, the threads' scheduling): the first of
// overlapping runs changes it, the last restores it.
var quiet struct {
	sync.Mutex
	gcRuns, rtRuns int
	gcPercent      int
	rtRestore      func()
}

// gcOff collects once and turns the garbage collector off: a collection
// during the window stops or slows the pacer and the workers, which is
// schedule lag. The generator allocates almost nothing per request, so the
// heap grows by little meanwhile.
func gcOff() {
	quiet.Lock()
	defer quiet.Unlock()
	if quiet.gcRuns++; quiet.gcRuns == 1 {
		runtime.GC()
		quiet.gcPercent = debug.SetGCPercent(-1)
	}
}

func gcOn() {
	quiet.Lock()
	defer quiet.Unlock()
	if quiet.gcRuns--; quiet.gcRuns == 0 {
		debug.SetGCPercent(quiet.gcPercent)
	}
}

// rtOn moves the process to SCHED_FIFO prio (realtime) unless an
// overlapping run did; rtOff undoes it after the last one.
func rtOn(prio int) error {
	quiet.Lock()
	defer quiet.Unlock()
	if quiet.rtRuns == 0 {
		restore, err := realtime(prio)
		if err != nil {
			return err
		}
		quiet.rtRestore = restore
	}
	quiet.rtRuns++
	return nil
}

func rtOff() {
	quiet.Lock()
	defer quiet.Unlock()
	if quiet.rtRuns--; quiet.rtRuns == 0 {
		quiet.rtRestore()
		quiet.rtRestore = nil
	}
}

// schedule is the open loop's timetable: the pacer releases request i on
// due at start + i*interval, and notes whether a worker was free then.
type schedule struct {
	start    time.Time // set by pace once the workers wait (before it releases any)
	interval time.Duration
	workers  int32
	due      chan int
	idle     atomic.Int32 // workers waiting on due
	// queued[i] is written by the pacer before it releases i (the channel
	// orders it before the worker's read): true when no worker was free.
	queued []bool
}

func newSchedule(interval time.Duration, total, workers int) *schedule {
	return &schedule{interval: interval, workers: int32(workers), due: make(chan int, total), queued: make([]bool, total)}
}

// workersReady is how long pace waits for every worker to wait on due
// before it starts the timetable anyway.
const workersReady = time.Second

func (s *schedule) at(i int) time.Time { return s.start.Add(time.Duration(i) * s.interval) }

// pace releases every request at its due time on one locked OS thread,
// then closes the channel.
func (s *schedule) pace(ctx context.Context) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(s.due)
	// The timetable starts once every worker waits: a worker still starting
	// when the first request fell due made it count as queued, as if the
	// target held the connection (on a loaded machine, 10 ms was not
	// always enough: TestConstantWaitForTargetIsNotLag).
	for ready := time.Now().Add(workersReady); s.idle.Load() < s.workers && time.Now().Before(ready) && ctx.Err() == nil; {
		time.Sleep(100 * time.Microsecond)
	}
	s.start = time.Now()
	for i := range s.queued {
		sleepUntil(s.at(i))
		if ctx.Err() != nil {
			return
		}
		s.queued[i] = s.idle.Load() == 0
		s.due <- i
	}
}

// Add accumulates o into r: counts and elapsed time add up, histograms
// merge, the larger lag stays. It combines the rounds of one target.
func (r *Result) Add(o Result) {
	r.Requests += o.Requests
	r.Non2xx += o.Non2xx
	r.Errors += o.Errors
	r.Elapsed += o.Elapsed
	r.MaxLag = max(r.MaxLag, o.MaxLag)
	r.MaxWait = max(r.MaxWait, o.MaxWait)
	if r.NotRealTime == "" {
		r.NotRealTime = o.NotRealTime
	}
	r.Latency = merge(r.Latency, o.Latency)
	r.Lag = merge(r.Lag, o.Lag)
}

// merge adds o into h, making h when it is nil, and returns h.
func merge(h, o *hdrhistogram.Histogram) *hdrhistogram.Histogram {
	if o == nil {
		return h
	}
	if h == nil {
		h = newHistogram()
	}
	h.Merge(o)
	return h
}

// LagQuantile returns the schedule lag at percentile q (0-100).
func (r Result) LagQuantile(q float64) time.Duration {
	if r.Lag == nil {
		return 0
	}
	return time.Duration(r.Lag.ValueAtQuantile(q))
}
