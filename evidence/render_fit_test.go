package evidence

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// fitScript measures, in the page Chromium laid out, every text of every
// chart against its chart's box, and writes the texts that do not fit
// into <pre id="fit">: a text cut at the chart's edge is cut on screen
// and in the PDF alike.
const fitScript = `<script>
const out = [];
for (const svg of document.querySelectorAll("svg.chart")) {
  const box = svg.getBoundingClientRect();
  for (const t of svg.querySelectorAll(":scope > text")) {
    const r = t.getBoundingClientRect();
    if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5) {
      out.push(svg.id + ": " + JSON.stringify(t.textContent) + " " + Math.round(r.left - box.left) + ".." + Math.round(r.right - box.left) +
        " x " + Math.round(r.top - box.top) + ".." + Math.round(r.bottom - box.top) + " in " + Math.round(box.width) + " x " + Math.round(box.height));
    }
  }
}
const pre = document.createElement("pre");
pre.id = "fit";
pre.textContent = "measured\n" + out.join("\n");
document.body.appendChild(pre);
</script>`

// TestIndexChartTextFitsInChromium: the charts of index.html are the
// summary a reviewer reads first and prints to PDF, and their texts were
// cut at the chart's edge: the daily chart's title lost its "(max N)",
// the only scale a printed chart has, the legend lost the ends of "refused
// at TLS handshake" and "401/403/429/handshake", and long labels under the
// bars (a tenant's name, "(not in policy)") were cut at the bottom. The
// page is laid out by real headless Chromium, with a measuring script
// added to a copy (the pack's own page allows no script), and every text
// must lie inside its chart.
func TestIndexChartTextFitsInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("renders with headless Chromium; not in -short")
	}
	bin := chromium(t)
	data, key := t.TempDir(), newKey(t)
	activity(t, data, key)
	// A tenant no policy names: its records count under "(not in
	// policy)", the longest label under the tenants' bars.
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Retention: 400 * 24 * time.Hour, Now: sinceQ2})
	if err != nil {
		t.Fatal(err)
	}
	stranger := collector.StoredRecord{Time: time.Date(2026, 5, 6, 12, 0, 0, 0, time.UTC), Tenant: "initech", Method: "GET",
		Route: "/v1/users", Path: "/v1/users", Status: 401, Decision: "unauthenticated", RequestID: "r-x"}
	if err := st.AppendBatch(&collector.Batch{ID: "b9", Sender: "token:sidecar-1", Records: []collector.StoredRecord{stranger}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SignHead(sinceQ2()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	quarter, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	day, err := ParseRange("2026-05-06", "2026-05-06") // one day: the narrowest daily chart
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Period{quarter, day} {
		t.Run(p.Name, func(t *testing.T) { chartTextFits(t, bin, data, key, hist, p) })
	}
}

// chartTextFits packs period p of the store in data and checks, in
// Chromium, that every text of index.html's charts lies in its chart.
func chartTextFits(t *testing.T, bin, data string, key ed25519.PrivateKey, hist []etcdadmin.HistoryEntry, p Period) {
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(res.Dir, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	page := strings.Replace(string(raw), indexCSP, "", 1)
	page = strings.Replace(page, "</body>", fitScript+"</body>", 1)
	copyPath := filepath.Join(t.TempDir(), "measured.html")
	if err := os.WriteFile(copyPath, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := string(headless(t, bin, copyPath, "--window-size=1100,1400", "--dump-dom"))
	m := regexp.MustCompile(`(?s)<pre id="fit">measured\n?(.*?)</pre>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the measuring script did not run; DOM:\n%s", lastLines([]byte(dom), 5))
	}
	if cut := strings.TrimSpace(m[1]); cut != "" {
		t.Errorf("texts cut at their chart's edge (chart: text, x and y extent in the chart's box):\n%s", cut)
	}
}
