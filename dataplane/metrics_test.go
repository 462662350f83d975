package dataplane

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseExposition parses a /metrics page with Prometheus' own text parser
// and checks what a scraper needs beyond parsing: every family has HELP
// and a TYPE. A family written twice (two HELP or TYPE lines) fails the
// parse.
func parseExposition(t *testing.T, page string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, page)
	}
	for name, f := range fams {
		if f.GetHelp() == "" {
			t.Errorf("family %s has no HELP", name)
		}
		if f.GetType() == dto.MetricType_UNTYPED {
			t.Errorf("family %s has no TYPE", name)
		}
	}
	return fams
}

// The data plane's /metrics page parses, names each family once with HELP
// and TYPE, and carries the go_* and process_* families (issue 13, item 9).
func TestMetricsExposition(t *testing.T) {
	st := startStack(t, nil)
	do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
	do(t, st.addr, "GET", "/nope", nil, "")
	fams := parseExposition(t, scrape(t, st.srv))
	for _, name := range []string{
		"portcullis_requests_total", "portcullis_request_duration_seconds", "portcullis_limiter_denials_total",
		"portcullis_key_cache_hits_total", "portcullis_key_cache_misses_total", "portcullis_audit_dropped_total",
		"portcullis_panics_total", "portcullis_policy_compile_failures_total", "portcullis_policy_revision",
		"portcullis_policy_last_reload_timestamp_seconds", "portcullis_ready", "portcullis_concurrency_queued",
		"go_info", "go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_cycles_total",
		"process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
		"process_max_fds", "process_start_time_seconds", "process_virtual_memory_bytes",
	} {
		if fams[name] == nil {
			t.Errorf("/metrics lacks family %s", name)
		}
	}
	if f := fams["process_resident_memory_bytes"]; f != nil {
		if rss := f.GetMetric()[0].GetGauge().GetValue(); rss < 1<<20 || rss > 1<<40 {
			t.Errorf("process_resident_memory_bytes = %v, not a plausible RSS", rss)
		}
	}
	if f := fams["portcullis_policy_revision"]; f != nil {
		if got := f.GetMetric()[0].GetGauge().GetValue(); got != 1 {
			t.Errorf("portcullis_policy_revision = %v, want 1", got)
		}
	}
	if f := fams["portcullis_request_duration_seconds"]; f != nil {
		if got := f.GetMetric()[0].GetHistogram().GetSampleCount(); got != 2 {
			t.Errorf("latency histogram counts %d requests, want 2", got)
		}
	}
}

// The policy revision gauge follows the store at once, not on the next
// request (issue 13, item 9: it moved only when a request rebuilt the
// per-policy tables).
func TestPolicyRevisionFollowsTheStore(t *testing.T) {
	st := startStack(t, nil)
	do(t, st.addr, "GET", "/v1/status", nil, "")
	snap := loadExample(t)
	next := *snap
	next.Revision = 7
	st.store.Swap(&next)
	fams := parseExposition(t, scrape(t, st.srv))
	if got := fams["portcullis_policy_revision"].GetMetric()[0].GetGauge().GetValue(); got != 7 {
		t.Errorf("portcullis_policy_revision = %v right after the swap, want 7", got)
	}
}

// A registry refuses a family name twice, so no two sources can write one
// family.
func TestRegistryRefusesDuplicates(t *testing.T) {
	var r Registry
	c := Counter("x_total", "X.", func() uint64 { return 1 })
	if err := r.Register(c); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(Gauge("y", "Y.", func() float64 { return 0 }), c); err == nil {
		t.Error("second x_total registered, want an error")
	}
	if err := r.Register(Family{Name: "z", Type: "summary", Help: "Z.", Samples: c.Samples}); err == nil {
		t.Error("a family of unknown type registered, want an error")
	}
	if got, want := string(r.AppendText(nil)), "# HELP x_total X.\n# TYPE x_total counter\nx_total 1\n"; got != want {
		t.Errorf("AppendText = %q, want %q", got, want)
	}
}

// Whole numbers are written in full (scrapers and the kill test read
// counts as integers), others as the shortest float.
func TestAppendFloatSample(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{1e6, "x 1000000\n"}, {0, "x 0\n"}, {1.5, "x 1.5\n"}, {-3, "x -3\n"}, {1e300, "x 1e+300\n"},
		{1796136930.47107, "x 1796136930.47107\n"}, {1e-9, "x 1e-09\n"}} {
		if got := string(appendFloatSample(nil, "x", c.v)); got != c.want {
			t.Errorf("appendFloatSample(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestMetrics(t *testing.T) {
	st := startStack(t, nil)
	do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
	do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
	do(t, st.addr, "GET", "/nope", nil, "")
	admin := &Admin{Server: st.srv}
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/metrics")
	admin.Handler(&ctx)
	body := string(ctx.Response.Body())
	for _, want := range []string{
		`portcullis_requests_total{class="standard",decision="allowed"} 2`,
		`portcullis_requests_total{class="none",decision="no_route"} 1`,
		`portcullis_request_duration_seconds_count 3`,
		`portcullis_request_duration_seconds_bucket{le="+Inf"} 3`,
		`portcullis_key_cache_hits_total 1`,
		`portcullis_limiter_denials_total{scope="tenant"} 0`,
		`portcullis_key_cache_misses_total 1`,
		`portcullis_policy_revision 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
