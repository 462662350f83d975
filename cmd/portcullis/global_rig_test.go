package main

import (
	"bufio"
	"context"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/examples/upstream"
	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// Demo keys of examples/policy.yaml (demo-only secrets, published in the README).
const (
	rigAcmeKey   = "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"
	rigGlobexKey = "pk_globexbi1_DemoGlobexBiSecret0000000000000001"
)

// rig is a deployment on one machine for the global-limit tests: a real
// etcd server, one real upstream on loopback, and sidecars (the sidecar
// command's own wiring, in process) that join and leave it.
type rig struct {
	tb        testing.TB
	etcd      *devetcd.Server
	endpoints string
	prefix    string
	upstream  string
}

// rigPod is one running sidecar of a rig.
type rigPod struct {
	name, listen, admin string
	stop                func() // SIGTERM: the member and demand records go at once
}

// newRig starts etcd and the upstream and pushes the example policy with
// the tenant limits given (rate strings) and every other limit far above
// the traffic, so that only the tenant limits decide.
func newRig(tb testing.TB, acme, globex string) *rig {
	tb.Helper()
	e, err := devetcd.Start(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	r := &rig{tb: tb, etcd: e, endpoints: strings.Join(e.Endpoints(), ","), prefix: "/global-test", upstream: freeAddrTB(tb)}
	up := &fasthttp.Server{Handler: upstream.Handler}
	go up.ListenAndServe(r.upstream)
	tb.Cleanup(func() { up.Shutdown() })
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		tb.Fatal(err)
	}
	text := string(doc)
	for _, ed := range [][2]string{
		{"    name: Acme Corp\n    limit: {rate: 200/s, burst: 400}", "    name: Acme Corp\n    limit: {rate: " + acme + "}"},
		{"    name: Globex Inc\n    limit: {rate: 200/s, burst: 400}", "    name: Globex Inc\n    limit: {rate: " + globex + "}"},
		{"limit: {rate: 100/s, burst: 200}", "limit: {rate: 100000/s}"}, // class standard
		{"limit: {rate: 5/s, burst: 10}", "limit: {rate: 100000/s}"},    // acme-hris
	} {
		if !strings.Contains(text, ed[0]) {
			tb.Fatalf("the example policy lacks %q", ed[0])
		}
		text = strings.Replace(text, ed[0], ed[1], 1)
	}
	text = strings.Replace(text, "    scopes: [read:reports]\n    limit: {rate: 20/s, burst: 40}", "    scopes: [read:reports]\n    limit: {rate: 100000/s}", 1)
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints()})
	if err != nil {
		tb.Fatal(err)
	}
	defer cli.Close()
	if _, err := etcdadmin.New(cli, r.prefix).PushPolicy(context.Background(), []byte(text), 0, etcdadmin.Meta{Actor: "test", Reason: "global limits", Ticket: "T-17"}); err != nil {
		tb.Fatal(err)
	}
	return r
}

// start runs a sidecar named pod and waits until it serves.
func (r *rig) start(pod string) *rigPod {
	r.tb.Helper()
	f := sidecarFlags{etcd: etcdConnFlags{endpoints: r.endpoints, prefix: r.prefix}, stateDir: r.tb.TempDir(), pod: pod,
		upstream: r.upstream, listen: freeAddrTB(r.tb), admin: freeAddrTB(r.tb), drain: 5 * time.Second, drainDelay: 50 * time.Millisecond,
		maxConns: 10000, maxPerIP: 1024}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sidecar(ctx, f, zerolog.Nop()) }()
	var once sync.Once
	p := &rigPod{name: pod, listen: f.listen, admin: f.admin, stop: func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					r.tb.Errorf("sidecar %s stopped with %v", pod, err)
				}
			case <-time.After(60 * time.Second):
				r.tb.Errorf("sidecar %s did not stop", pod)
			}
		})
	}}
	r.tb.Cleanup(p.stop)
	r.waitFor(pod+" to serve the policy", func() bool {
		return rigStatus("http://"+p.listen+"/v1/status", "") == 200
	})
	return p
}

// waitFor polls cond every 50 ms for up to a minute (a loaded machine).
func (r *rig) waitFor(what string, cond func() bool) {
	r.tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			r.tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitMembers waits until every pod shares its limits among n sidecars.
func (r *rig) waitMembers(n int, pods ...*rigPod) {
	r.tb.Helper()
	for _, p := range pods {
		r.waitFor(p.name+" to count "+strconv.Itoa(n)+" members", func() bool {
			return rigMetric(p.admin, "portcullis_global_limit_members") == float64(n)
		})
	}
}

var rigHTTP = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

// rigStatus returns the status of a GET with an API key, 0 on a failure.
func rigStatus(url, key string) int {
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := rigHTTP.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// rigMetric returns the value of the unlabelled series name on the
// admin listener's /metrics, NaN when absent.
func rigMetric(admin, name string) float64 {
	resp, err := rigHTTP.Get("http://" + admin + "/metrics")
	if err != nil {
		return math.NaN()
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return math.NaN()
}

// loadTarget is where a share of the traffic goes.
type loadTarget struct {
	addr   string
	weight float64
}

// loadFlow is paced traffic of one tenant: rate requests per second over the
// targets in proportion of their weights (a low-discrepancy sequence, so
// the split is exact over any second), counted by send time in 250 ms
// buckets.
type loadFlow struct {
	url, key string
	rate     float64
	targets  atomic.Pointer[[]loadTarget]
	seq      atomic.Uint64
	start    time.Time

	ok, sent, failed []atomic.Int64 // by flowBucket
	mu               sync.Mutex     // guards lat
	lat              []time.Duration
}

const flowBucket = 250 * time.Millisecond

func newLoadFlow(path, key string, rate float64, span time.Duration, targets ...loadTarget) *loadFlow {
	f := &loadFlow{url: path, key: key, rate: rate}
	n := int(span/flowBucket) + 1
	f.ok, f.sent, f.failed = make([]atomic.Int64, n), make([]atomic.Int64, n), make([]atomic.Int64, n)
	f.route(targets...)
	return f
}

// route sends the traffic to targets from now on.
func (f *loadFlow) route(targets ...loadTarget) { f.targets.Store(&targets) }

// pick returns the loadTarget of request i.
func (f *loadFlow) pick(i uint64) string {
	ts := *f.targets.Load()
	var sum float64
	for _, t := range ts {
		sum += t.weight
	}
	x := math.Mod(float64(i)*0.6180339887498949, 1) * sum
	for _, t := range ts {
		if x < t.weight {
			return t.addr
		}
		x -= t.weight
	}
	return ts[len(ts)-1].addr
}

// run sends until ctx ends, from start, with one worker per 25 requests
// per second so that a slow answer does not hold the pace back.
func (f *loadFlow) run(ctx context.Context, start time.Time) *sync.WaitGroup {
	f.start = start
	workers := max(1, int(math.Ceil(f.rate/25)))
	gap := time.Duration(float64(workers) / f.rate * float64(time.Second))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			next := start.Add(gap * time.Duration(w) / time.Duration(workers))
			for {
				if d := time.Until(next); d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				}
				if ctx.Err() != nil {
					return
				}
				f.one(time.Now())
				next = next.Add(gap)
				if behind := time.Since(next); behind > time.Second {
					next = time.Now() // a stalled machine: do not burst to catch up
				}
			}
		})
	}
	return &wg
}

func (f *loadFlow) one(at time.Time) {
	b := int(at.Sub(f.start) / flowBucket)
	if b < 0 || b >= len(f.ok) {
		return
	}
	f.sent[b].Add(1)
	code := rigStatus("http://"+f.pick(f.seq.Add(1))+f.url, f.key)
	switch code {
	case 200:
		f.ok[b].Add(1)
		lat := time.Since(at)
		f.mu.Lock()
		f.lat = append(f.lat, lat)
		f.mu.Unlock()
	case 429:
	default:
		f.failed[b].Add(1)
	}
}

// admitted returns the 200s of the requests sent in [from, to).
func (f *loadFlow) admitted(from, to time.Duration) int64 {
	return sumFlowBuckets(f.ok, from, to)
}

func sumFlowBuckets(c []atomic.Int64, from, to time.Duration) int64 {
	var n int64
	for b := int(from / flowBucket); b < int(to/flowBucket) && b < len(c); b++ {
		n += c[b].Load()
	}
	return n
}

// perSecond lists the 200s per second in [from, to), for failure messages.
func (f *loadFlow) perSecond(from, to time.Duration) []int64 {
	var out []int64
	for s := from; s < to; s += time.Second {
		out = append(out, f.admitted(s, s+time.Second))
	}
	return out
}

// p99 returns the 99th percentile latency of the admitted requests.
func (f *loadFlow) p99() time.Duration { return f.quantile(99) }

// quantile returns the q-th percentile latency of the admitted requests.
func (f *loadFlow) quantile(q int) time.Duration {
	f.mu.Lock()
	lat := slices.Clone(f.lat)
	f.mu.Unlock()
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[min(len(lat)-1, len(lat)*q/100)]
}

// withinPct reports whether got is withinPct pct percent of want.
func withinPct(got, want int64, pct float64) bool {
	return math.Abs(float64(got-want)) <= float64(want)*pct/100
}
