package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/portcullis/portcullis/alert"
)

// IndexFile is the summary a reviewer reads first.
const IndexFile = "index.html"

// series is one bar colour of a chart: a name and a value per label.
type series struct {
	name, color string
	values      map[string]int64
}

// dailyCounts returns the days of the period (to the pack's making, for
// a period not ended) and the allowed requests, 401/403/429 denials and
// connections refused before HTTP (a client certificate refused at the
// TLS handshake) per day. A day without a record is a day of zeros:
// before, it was no bar at all, and a chart of a quiet weekend read as
// two days of traffic side by side.
func (b *builder) dailyCounts() ([]string, []series) {
	ss := []series{{"allowed", "#4c78a8", map[string]int64{}}, {"401", "#f58518", map[string]int64{}},
		{"403", "#e45756", map[string]int64{}}, {"429", "#b279a2", map[string]int64{}},
		{"refused at TLS handshake", "#9d755d", map[string]int64{}}}
	days := map[string]bool{}
	end := b.cfg.Period.To
	if !b.partial.IsZero() && b.partial.Before(end) {
		end = b.partial
	}
	for d := dayOf(b.cfg.Period.From); d <= dayOf(end.Add(-time.Nanosecond)); d++ {
		days[dayName(d)] = true
	}
	for d, c := range b.tally.daily {
		name := dayName(d)
		days[name] = true
		for i := range ss {
			if c[i] != 0 {
				ss[i].values[name] = c[i]
			}
		}
	}
	return sortedKeys(days), ss
}

// tenantCounts is dailyCounts by tenant.
func (b *builder) tenantCounts() ([]string, []series) {
	ss := []series{{"requests", "#4c78a8", map[string]int64{}}, {"401/403/429/handshake", "#e45756", map[string]int64{}}}
	ts := map[string]bool{}
	for t, n := range b.tally.tenant {
		ts[dash(t)] = true
		ss[0].values[dash(t)] += n
	}
	for t, n := range b.tally.tenantDenied {
		ts[t] = true // refusals at the TLS handshake are of no tenant's requests
		ss[1].values[t] = n
	}
	return sortedKeys(ts), ss
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// barChart renders grouped bars as inline SVG, one group per label.
func barChart(id, title string, labels []string, ss []series) string {
	const h, top = 200, 30
	bottom := 40
	// Bars narrow as the labels grow, to 2 pixels, so that a quarter's
	// 91 days (every day charted, a quiet one at zero) stay about a page
	// wide, a label written every step groups; the page then scales the
	// chart to its width (viewBox, and max-width in the style), in print
	// too, where a wider chart was cut. Each bar keeps its exact count
	// in its title.
	bar := 12
	if n := len(labels) * len(ss); n > 0 {
		bar = min(12, max(2, (960-10*len(labels))/n))
	}
	var peak int64 = 1
	for _, s := range ss {
		for _, v := range s.values {
			peak = max(peak, v)
		}
	}
	group := bar*len(ss) + min(10, bar)
	step := 1 // a slanted label needs about 24 pixels; narrower groups get one every 48
	if group < 24 {
		step = (48 + group - 1) / group
	}
	// The chart is as wide and tall as its texts need: its title (with
	// "(max N)", the only scale a printed chart has), the legend right of
	// the bars and the slanted labels under them were cut at a fixed
	// edge (TestIndexChartTextFitsInChromium).
	heading := fmt.Sprintf("%s (max %d)", title, peak)
	legend := 0
	for _, s := range ss {
		legend = max(legend, 12+textWidth(s.name, 9))
	}
	label := 0
	for _, l := range labels {
		label = max(label, textWidth(l, 9))
	}
	plot := 40 + group*len(labels)
	width := max(300, plot+10+legend, 8+textWidth(heading, 13), plot+label*7/8)
	bottom = max(bottom, 14+label/2) // a label slanted 30 degrees drops half its length
	var w bytes.Buffer
	fmt.Fprintf(&w, `<svg id="%s" class="chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img"><title>%s</title>`,
		id, width, h+top+bottom, width, h+top+bottom, htmlText(title))
	fmt.Fprintf(&w, `<text x="4" y="16" font-size="13">%s</text>`, htmlText(heading))
	for i, l := range labels {
		x := 40 + i*group
		for j, s := range ss {
			v := s.values[l]
			bh := int(int64(h) * v / peak)
			fmt.Fprintf(&w, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s %s: %d</title></rect>`,
				x+j*bar, top+h-bh, bar-1, bh, s.color, htmlText(l), htmlText(s.name), v)
		}
		if i%step == 0 {
			fmt.Fprintf(&w, `<text x="%d" y="%d" font-size="9" transform="rotate(30 %d %d)">%s</text>`, x, top+h+12, x, top+h+12, htmlText(l))
		}
	}
	for j, s := range ss {
		y := 20 + 12*j
		fmt.Fprintf(&w, `<rect x="%d" y="%d" width="8" height="8" fill="%s"/><text x="%d" y="%d" font-size="9">%s</text>`,
			width-legend, y, s.color, width-legend+12, y+8, htmlText(s.name))
	}
	w.WriteString(`</svg>`)
	return w.String()
}

// htmlText is text for index.html: alert.PlainText (a control, line
// separator or bidirectional override from a sender's or an operator's
// text becomes a space: a right-to-left override in a tenant's label
// reversed the chart's text after it), then escaped.
func htmlText(s string) string { return html.EscapeString(alert.PlainText(s)) }

// textWidth is a generous width, in pixels, of s in a sans-serif font of
// size px: Chromium's are about half an em a character, this is 0.62.
func textWidth(s string, px int) int {
	return (utf8.RuneCountInString(s)*px*62 + 99) / 100
}

// timeline renders the period's lifecycle events as dots on a line.
func (b *builder) timeline() string {
	const width, h = 800, 80
	p := b.cfg.Period
	span := p.To.Sub(p.From)
	var w bytes.Buffer
	fmt.Fprintf(&w, `<svg id="timeline" class="chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img"><title>lifecycle events</title>`, width, h, width, h)
	fmt.Fprintf(&w, `<line x1="10" y1="40" x2="%d" y2="40" stroke="#888"/>`, width-10)
	for i := range b.events {
		ev := &b.events[i]
		x := 10 + int(float64(width-20)*float64(ev.Time.Sub(p.From))/float64(span))
		fmt.Fprintf(&w, `<circle cx="%d" cy="40" r="5" fill="#e45756"><title>%s %s %s by %s</title></circle>`,
			x, rfc(ev.Time), htmlText(ev.Action), htmlText(ev.Target), htmlText(ev.Actor))
	}
	w.WriteString(`</svg>`)
	return w.String()
}

// indexCSP is index.html's Content-Security-Policy: its own inline style
// and nothing else, so whatever markup reached the page (its texts are
// escaped) runs no script and fetches nothing when a reviewer opens or
// prints it (TestIndexRunsNoScriptAndFetchesNothing).
const indexCSP = `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">`

// index makes index.html: the period, the policy in force, the charts
// and the files with their digests; it returns its manifest row too.
func (b *builder) index(rows []ManifestRow) (packFile, ManifestRow) {
	var w bytes.Buffer
	p := b.cfg.Period
	fmt.Fprintf(&w, "<!doctype html>\n<html><head><meta charset=\"utf-8\">%s<title>Evidence pack %s</title>\n", indexCSP, htmlText(p.Name))
	w.WriteString("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px;font-size:12px}.chart{display:block;margin:1em 0;max-width:100%;height:auto}@media print{.chart{break-inside:avoid}}</style></head><body>\n")
	fmt.Fprintf(&w, "<h1>API evidence pack %s</h1>\n<p>Period %s to %s (exclusive). Policy in force: revision %d, SHA-256 <code>%s</code>, pushed by %s.</p>\n",
		htmlText(p.Name), rfc(p.From), rfc(p.To), b.inForce.Revision, htmlText(b.inForce.Digest), htmlText(b.inForce.Actor))
	if note := b.partialNote(); note != "" {
		fmt.Fprintf(&w, "<p class=\"partial\">%s</p>\n", note)
	}
	for _, t := range b.incomplete() {
		fmt.Fprintf(&w, "<p class=\"incomplete\"><strong>%s</strong></p>\n", htmlText(t))
	}
	fmt.Fprintf(&w, "<p>%d records, %d lifecycle events, %d alerts in the period.</p>\n", b.tally.records, len(b.events), len(b.alerts))
	if b.tally.records == 0 && len(b.events) == 0 && len(b.alerts) == 0 {
		w.WriteString("<p class=\"empty\"><strong>No activity in this period</strong>: the store holds no records, lifecycle events or alerts between these dates, so the charts are empty.</p>\n")
	}
	days, ds := b.dailyCounts()
	tenants, ts := b.tenantCounts()
	w.WriteString("<h2>Requests and denials per day</h2>\n" + barChart("daily", "requests, 401/403/429 and TLS handshake refusals per day", days, ds) + "\n")
	w.WriteString("<h2>Per tenant</h2>\n" + barChart("tenants", "requests and denials per tenant", tenants, ts) + "\n")
	w.WriteString("<h2>Lifecycle events</h2>\n" + b.timeline() + "\n")
	w.WriteString("<h2>Files</h2>\n<table><tr><th>file</th><th>control</th><th>area</th><th>owner</th><th>SHA-256</th></tr>\n")
	for _, r := range rows {
		fmt.Fprintf(&w, "<tr><td><a href=\"%s\">%s</a></td><td>%s</td><td>%s</td><td>%s</td><td><code>%s</code></td></tr>\n",
			htmlText(r.File), htmlText(r.File), htmlText(r.ControlID), htmlText(r.Area),
			htmlText(r.Owner), r.SHA256)
	}
	w.WriteString("</table></body></html>\n")
	sum := sha256.Sum256(w.Bytes())
	return packFile{name: IndexFile, data: w.Bytes()}, b.row(file{area: "Index", name: "Summary"}, IndexFile, hex.EncodeToString(sum[:]))
}
