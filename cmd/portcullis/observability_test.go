package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/promtool"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// observability is deploy/observability, from this package's directory.
const observability = "../../deploy/observability"

// realMetrics runs what a production deployment runs, on loopback: a real
// etcd, a collector, and a sidecar in etcd mode (--metrics-tenants 1)
// auditing to it. It sends tenant traffic, waits for its delivery, and
// returns the sidecar's /metrics page and the collector's.
func realMetrics(t *testing.T) (sidecarPage, collectorPage string) {
	t.Helper()
	e, cli := etcdClient(t)
	const prefix = "/obs-assets"
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcdadmin.New(cli, prefix).PushPolicy(context.Background(), doc, 0, etcdadmin.Meta{Actor: "test", Reason: "observability", Ticket: "T-1"}); err != nil {
		t.Fatal(err)
	}

	_, key, _ := ed25519.GenerateKey(rand.Reader)
	st, err := collector.OpenStore(t.TempDir(), collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	const token = "obs-token-0123456789abcdef0123456789abcdef"
	// The series the collector command adds (ticket outbox, detection), as
	// `portcullis collector` writes them.
	col, err := collector.New(st, collector.Config{Token: token, Metrics: collectorMetrics(&detection{}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	intake, metrics := httptest.NewServer(col), httptest.NewServer(col.MetricsHandler())
	t.Cleanup(func() { intake.Close(); metrics.Close(); st.Close() })
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	f := runInProcess(t, sidecarFlags{etcd: etcdConnFlags{endpoints: strings.Join(e.Endpoints(), ","), prefix: prefix},
		stateDir: t.TempDir(), pod: "obs-pod", collector: intake.URL, tokenFile: tokenFile, spoolDir: t.TempDir(), metricsTenants: 1})
	pollUntil(t, obsWait, "acme's key accepted", func() (bool, string) {
		code := get(t, "http://"+f.listen+"/v1/users", hrisKey)
		return code == 200, fmt.Sprint("status ", code)
	})
	scrapeFamilies(t, f.admin) // names acme, the busiest tenant
	for range 3 {
		get(t, "http://"+f.listen+"/v1/users", hrisKey)
	}
	get(t, "http://"+f.listen+"/v1/users", "") // 401, no tenant
	pollUntil(t, obsWait, "the records delivered", func() (bool, string) {
		got := value(scrapeFamilies(t, f.admin), "portcullis_audit_records_total", "outcome", "delivered")
		return got >= 5, "delivered " + ftoa(got)
	})
	fams := scrapeFamilies(t, f.admin)
	if got := value(fams, "portcullis_tenant_requests_total", "tenant", "acme", "decision", "allowed"); got != 3 {
		t.Errorf("acme's allowed requests since it was named = %v, want 3 (--metrics-tenants 1)", got)
	}
	if got := len(fams["portcullis_tenant_response_bytes_total"].GetMetric()); got < 2 {
		t.Errorf("%d byte series, want acme and the others", got)
	}
	_, sidecarPage = body(t, "http://"+f.admin+"/metrics")
	_, collectorPage = body(t, metrics.URL+"/metrics")
	return sidecarPage, collectorPage
}

// sampleNames returns the sample names of a text exposition.
func sampleNames(page string) map[string]bool {
	names := map[string]bool{}
	for line := range strings.Lines(page) {
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// metricName finds the metric names of a PromQL expression: the
// project's prefixes and recording rule names (level:metric:operations).
var metricName = regexp.MustCompile(`\b(?:(?:portcullis|go|process)_[a-z0-9_]+|[a-z_]+:[a-z0-9_]+:[a-z0-9_]+)\b`)

// checkNames fails t for every metric name in expr that is neither a
// sample name of known nor recorded, and for an expression naming none.
func checkNames(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	names := metricName.FindAllString(expr, -1)
	if len(names) == 0 {
		t.Errorf("%s: %q names no portcullis metric", where, expr)
	}
	for _, n := range names {
		if !known[n] {
			t.Errorf("%s: %q uses %s, which no /metrics page serves and no rule records", where, expr, n)
		}
	}
}

// ruleFile is the part of a Prometheus rule file the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Record, Alert, Expr, For string
			Labels                   map[string]string
		}
	}
}

// ruleTests is the part of a promtool test file the tests read.
type ruleTests struct {
	Tests []struct {
		AlertRuleTest []struct {
			AlertName string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// promtoolRun runs promtool with args in deploy/observability and fails t
// with its output when it exits non-zero.
func promtoolRun(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool.Path(t), args...)
	cmd.Dir = observability
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestObservabilityAssets checks deploy/observability against a real
// deployment's /metrics: the sidecar's page (etcd mode, auditing to a
// collector, per-tenant series) passes promtool check metrics; the rules
// pass promtool check rules and their tests (each alert fires on its
// problem and not on normal series); and every metric the rules and the
// dashboard use is served or recorded.
func TestObservabilityAssets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, a collector and a sidecar")
	}
	promtool.Path(t) // skip before starting anything when promtool cannot be had
	sidecarPage, collectorPage := realMetrics(t)
	promtool.CheckMetrics(t, []byte(sidecarPage))
	known := sampleNames(sidecarPage)
	for n := range sampleNames(collectorPage) {
		known[n] = true
	}
	// The client CRL families, served only with --client-crl.
	crlPage, collectorCRL := crlMetrics(t)
	promtool.CheckMetrics(t, []byte(crlPage))
	for n := range sampleNames(crlPage) {
		known[n] = true
	}
	for n := range sampleNames(collectorCRL) {
		known[n] = true
	}
	var rules ruleFile
	readYAML(t, filepath.Join(observability, "rules.yml"), &rules)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}
	t.Run("operations.md", func(t *testing.T) {
		checkMetricsDoc(t, "../../docs/operations.md", sidecarPage, crlPage, collectorPage+collectorCRL)
	})
	t.Run("rules", func(t *testing.T) { checkRules(t, &rules, known) })
	t.Run("dashboard", func(t *testing.T) { checkDashboard(t, known) })
}

// requiredAlerts are the alerts issue 17 asks for, by what they watch.
var requiredAlerts = map[string]string{
	"PortcullisTenantThrottled":      "429 spike per tenant",
	"PortcullisAuthFailureSpike":     "auth failure spike",
	"PortcullisTenantEgressSpike":    "egress spike",
	"PortcullisPolicyStale":          "a sidecar stale on policy",
	"PortcullisPolicyRevisionBehind": "a sidecar stale on policy",
	"PortcullisAuditSpoolGrowing":    "audit spool growing",
	// Records dropped or lost (the ring full, the spool full in best_effort,
	// batches the collector refused, a file that took no writes) fired no
	// alert: the spool alert sees none of them.
	"PortcullisAuditRecordsLost":      "audit records dropped or lost",
	"PortcullisEtcdUnreachable":       "etcd unreachable",
	"PortcullisLastKnownGoodNotSaved": "last-known-good policy not saved",
	// An expired client CRL refuses every certificate of its CA; the
	// count of expired CRLs said so only once it had happened.
	"PortcullisClientCRLExpiringSoon": "client CRL a day from its nextUpdate",
}

func checkRules(t *testing.T, rules *ruleFile, known map[string]bool) {
	promtoolRun(t, "check", "rules", "rules.yml")
	promtoolRun(t, "test", "rules", "rules_test.yml")
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			checkNames(t, "rules.yml "+r.Record+r.Alert, r.Expr, known)
			if r.Alert != "" {
				alerts[r.Alert] = true
				if r.Labels["severity"] == "" {
					t.Errorf("alert %s has no severity label", r.Alert)
				}
			}
		}
	}
	var tests ruleTests
	readYAML(t, filepath.Join(observability, "rules_test.yml"), &tests)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.AlertName] = true
			} else {
				quiet[a.AlertName] = true
			}
		}
	}
	for name, what := range requiredAlerts {
		if !alerts[name] {
			t.Errorf("rules.yml lacks %s (%s)", name, what)
		}
	}
	for name := range alerts {
		if !fires[name] || !quiet[name] {
			t.Errorf("rules_test.yml must show %s firing (%v) and quiet on normal series (%v)", name, fires[name], quiet[name])
		}
	}
}

// dashboard is the part of a Grafana dashboard JSON model the test reads.
type dashboard struct {
	Title         *string `json:"title"`
	UID           *string `json:"uid"`
	SchemaVersion *int    `json:"schemaVersion"`
	Editable      *bool   `json:"editable"`
	Time          *struct{ From, To string }
	Panels        []dashboardPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name, Type string
			Query      any
		}
	}
}

type dashboardPanel struct {
	ID              *int     `json:"id"`
	Type            string   `json:"type"`
	Title           string   `json:"title"`
	GridPos         *gridPos `json:"gridPos"`
	Datasource      *struct{ Type, UID string }
	Transformations []any `json:"transformations"`
	FieldConfig     *struct {
		Defaults  map[string]any `json:"defaults"`
		Overrides []any          `json:"overrides"`
	} `json:"fieldConfig"`
	Options map[string]any `json:"options"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"`
}

type gridPos struct{ H, W, X, Y *int }

// panelTypes are Grafana's built-in panel plugins this dashboard may use.
var panelTypes = []string{"row", "timeseries", "stat", "gauge", "table", "bargauge", "text", "heatmap", "state-timeline"}

// variableTypes are the template variable types of Grafana's schema.
var variableTypes = []string{"query", "adhoc", "constant", "datasource", "interval", "textbox", "custom", "system"}

// grafanaVars replaces the dashboard's variables with values PromQL
// parses, as Grafana does before it sends a query.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__range", "6h", "$__interval", "1m", "$job", ".*", "$tenant", ".*")

// checkDashboard holds dashboard.json to the rules of Grafana's dashboard
// schema (kinds/dashboard in grafana/grafana: schemaVersion required, a
// panel's type and id, gridPos h/w/x/y with w in 1..24 and x in 0..23,
// targets with a refId, a datasource reference {type, uid}, fieldConfig
// with defaults and overrides, options, transformations; a row's panels;
// template variables of a known type), plus what Grafana's layout
// needs (no two panels overlap), and checks each query: it parses
// (promtool check rules on a rule file of the queries) and every metric it
// names is served or recorded.
func checkDashboard(t *testing.T, known map[string]bool) {
	b, err := os.ReadFile(filepath.Join(observability, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	switch {
	case d.SchemaVersion == nil || *d.SchemaVersion < 36:
		t.Errorf("schemaVersion %v: required, and at least 36 (the dashboard kind's)", d.SchemaVersion)
	case d.Title == nil || *d.Title == "" || d.UID == nil || len(*d.UID) < 8 || len(*d.UID) > 40:
		t.Errorf("title %v and uid %v: want a title and a uid of 8-40 characters", d.Title, d.UID)
	case d.Time == nil || d.Time.From == "" || d.Time.To == "":
		t.Error("time: want from and to")
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = slices.Contains(variableTypes, v.Type)
	}
	for _, v := range []string{"datasource", "job", "tenant"} {
		if !vars[v] {
			t.Errorf("templating lacks variable %s, or its type is not one of %v", v, variableTypes)
		}
	}
	var queries []string
	var cells [][4]int
	ids := map[int]bool{}
	var walk func(ps []dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			queries = append(queries, checkPanel(t, &p, ids, known)...)
			if g := p.GridPos; g != nil && g.H != nil && g.W != nil && g.X != nil && g.Y != nil {
				cells = append(cells, [4]int{*g.X, *g.Y, *g.W, *g.H})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	checkOverlap(t, cells)
	for _, want := range []string{"portcullis_tenant_requests_total", "portcullis_tenant_response_bytes_total",
		"portcullis_request_duration_seconds_bucket", "portcullis_policy_revision", "portcullis_audit_records_total"} {
		if !slices.ContainsFunc(queries, func(q string) bool { return strings.Contains(q, want) }) {
			t.Errorf("no panel shows %s", want)
		}
	}
	checkQueriesParse(t, queries)
}

// checkPanel checks one panel and returns its queries with the variables
// replaced.
func checkPanel(t *testing.T, p *dashboardPanel, ids map[int]bool, known map[string]bool) []string {
	t.Helper()
	where := fmt.Sprintf("panel %q", p.Title)
	switch {
	case !slices.Contains(panelTypes, p.Type):
		t.Errorf("%s: type %q is not a Grafana panel type (%v)", where, p.Type, panelTypes)
	case p.ID == nil || ids[*p.ID]:
		t.Errorf("%s: id missing or repeated", where)
	case p.Title == "":
		t.Errorf("panel %v has no title", p.ID)
	}
	if p.ID != nil {
		ids[*p.ID] = true
	}
	g := p.GridPos
	if g == nil || g.H == nil || g.W == nil || g.X == nil || g.Y == nil {
		t.Errorf("%s: gridPos needs h, w, x and y", where)
	} else if *g.W < 1 || *g.W > 24 || *g.H < 1 || *g.X < 0 || *g.X >= 24 || *g.X+*g.W > 24 || *g.Y < 0 {
		t.Errorf("%s: gridPos %+v outside the 24-column grid", where, *g)
	}
	if p.Type == "row" {
		if p.Panels == nil {
			t.Errorf("%s: a row needs panels (empty when not collapsed)", where)
		}
		return nil
	}
	if p.FieldConfig == nil || p.FieldConfig.Defaults == nil || p.FieldConfig.Overrides == nil || p.Options == nil {
		t.Errorf("%s: fieldConfig (defaults, overrides) and options are required", where)
	}
	if len(p.Targets) == 0 || p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Transformations == nil {
		t.Errorf("%s: want targets, a prometheus datasource reference {type, uid} and transformations", where)
	}
	var qs []string
	for _, tg := range p.Targets {
		if tg.RefID == "" || tg.Expr == "" {
			t.Errorf("%s: a target needs refId and expr", where)
			continue
		}
		q := grafanaVars.Replace(tg.Expr)
		if strings.Contains(q, "$") {
			t.Errorf("%s: %q uses a variable the dashboard does not define", where, tg.Expr)
		}
		checkNames(t, where, q, known)
		qs = append(qs, q)
	}
	return qs
}

// checkOverlap fails t when two panels' cells (x, y, w, h) overlap.
func checkOverlap(t *testing.T, cells [][4]int) {
	t.Helper()
	for i, a := range cells {
		for _, b := range cells[i+1:] {
			if a[0] < b[0]+b[2] && b[0] < a[0]+a[2] && a[1] < b[1]+b[3] && b[1] < a[1]+a[3] {
				t.Errorf("panels at %v and %v overlap", a, b)
			}
		}
	}
}

// checkQueriesParse writes the queries as recording rules and has
// promtool check rules parse them.
func checkQueriesParse(t *testing.T, queries []string) {
	t.Helper()
	var f strings.Builder
	f.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, q := range queries {
		fmt.Fprintf(&f, "      - record: dashboard:query_%d:check\n        expr: %s\n", i, yamlQuote(q))
	}
	path := filepath.Join(t.TempDir(), "queries.yml")
	if err := os.WriteFile(path, []byte(f.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool.Path(t), "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Errorf("the dashboard's queries do not parse: %v\n%s", err, out)
	}
}

// yamlQuote quotes s for YAML as a JSON string (JSON strings are YAML).
func yamlQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// --metrics-tenants defaults to 50 and maps onto the data plane's setting,
// whose 0 means the default: 0 on the command line names no tenant.
func TestMetricsTenantsFlag(t *testing.T) {
	var f sidecarFlags
	fs := flag.NewFlagSet("sidecar", flag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if f.metricsTenants != 50 || f.tenantSeries() != 50 {
		t.Errorf("--metrics-tenants default %d (data plane %d), want 50", f.metricsTenants, f.tenantSeries())
	}
	if err := fs.Parse([]string{"--metrics-tenants", "0"}); err != nil || f.tenantSeries() != -1 {
		t.Errorf("--metrics-tenants 0: data plane setting %d (%v), want -1 (none named)", f.tenantSeries(), err)
	}
}

// docMetric is a row of a metrics table of the docs: its type and labels.
type docMetric struct {
	typ    string
	labels []string
}

// docMetrics reads the metrics tables of a Markdown file (rows whose
// first cell names metrics in backquotes, then type and labels), by
// metric name. A row may name several metrics; its type cell names one
// type for all of them or one each. A label is a backquoted word of the
// labels cell outside parentheses (which say what its values are).
func docMetrics(t *testing.T, path string) map[string]docMetric {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	quoted := regexp.MustCompile("`([a-z_:]+)`")
	parens := regexp.MustCompile(`\([^)]*\)`)
	out := map[string]docMetric{}
	for line := range strings.Lines(string(b)) {
		cells := strings.Split(strings.TrimSpace(line), "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		var names []string
		for _, m := range quoted.FindAllStringSubmatch(cells[1], -1) {
			names = append(names, m[1])
		}
		types := strings.Split(strings.ReplaceAll(cells[2], " ", ""), ",")
		var labels []string
		for _, m := range quoted.FindAllStringSubmatch(parens.ReplaceAllString(cells[3], ""), -1) {
			labels = append(labels, m[1])
		}
		slices.Sort(labels)
		for i, n := range names {
			typ := types[0]
			if len(types) == len(names) {
				typ = types[i]
			}
			d := docMetric{typ: typ, labels: labels}
			if prev, ok := out[n]; ok && (prev.typ != d.typ || !slices.Equal(prev.labels, d.labels)) {
				t.Errorf("%s documents %s twice: as a %s with labels %v and as a %s with labels %v", path, n, prev.typ, prev.labels, d.typ, d.labels)
			}
			out[n] = d
		}
	}
	return out
}

// servedMetrics parses text expositions into the families they serve,
// each with its type and label names (le for a histogram's buckets), the
// labels of every page together: a family may carry a label in one mode
// only (portcullis_policy_revision's etcd_prefix).
func servedMetrics(t *testing.T, pages ...string) map[string]docMetric {
	t.Helper()
	out := map[string]docMetric{}
	for _, page := range pages {
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(page))
		if err != nil {
			t.Fatalf("a /metrics page does not parse: %v", err)
		}
		for name, f := range fams {
			set := map[string]bool{}
			for _, l := range out[name].labels {
				set[l] = true
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					set[l.GetName()] = true
				}
			}
			if f.GetType() == dto.MetricType_HISTOGRAM {
				set["le"] = true
			}
			labels := slices.Sorted(maps.Keys(set))
			out[name] = docMetric{typ: strings.ToLower(f.GetType().String()), labels: labels}
		}
	}
	return out
}

// checkMetricsDoc holds the metrics tables of doc to what the sidecar
// and the collector serve, both ways: each documented metric is served
// with the documented type and labels, and each served one is documented.
func checkMetricsDoc(t *testing.T, doc string, pages ...string) {
	documented := docMetrics(t, doc)
	served := servedMetrics(t, pages...)
	for name, d := range documented {
		s, ok := served[name]
		switch {
		case !ok:
			t.Errorf("%s documents %s, which neither the sidecar nor the collector serves", doc, name)
		case s.typ != d.typ || !slices.Equal(s.labels, d.labels):
			t.Errorf("%s documents %s as a %s with labels %v; it is served as a %s with labels %v", doc, name, d.typ, d.labels, s.typ, s.labels)
		}
	}
	var missing []string
	for name := range served {
		if _, ok := documented[name]; !ok {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("%s does not document %d served metrics: %s", doc, len(missing), strings.Join(missing, ", "))
	}
}
