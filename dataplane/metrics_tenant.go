package dataplane

import (
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// Per-tenant metrics (issue 17, "Seeing it"): requests by decision and
// response bytes for the top N tenants by recent traffic, the rest summed
// in one series, so /metrics stays bounded however many tenants the policy
// holds.
//
// A request adds to its tenant's cell, found through the prepared tables
// by Tenant.Index (no map, no lock, no allocation); ranking happens when
// /metrics is scraped.
//
// A tenant's series counts from the scrape that named it (it appears at 0
// then); what the tenant sent before stays in the sum. So every series only
// grows, as a Prometheus counter must (a falling "_other" would read as a
// counter reset and a false spike in rate()), and the tenant series of a
// page always sum to the totals of portcullis_requests_total.
//
// The label values of the sums start with an underscore, which a tenant id
// cannot (policy: ^[a-z0-9][a-z0-9._-]{0,62}$), so a tenant named "other"
// never collides with them.
const (
	TenantOther = "_other" // tenants outside the top N
	TenantNone  = "_none"  // requests with no tenant (no credential, unknown key, no route)
)

// DefaultTenantSeries is the number of tenants shown by name on /metrics
// when Config.TenantSeries is 0.
const DefaultTenantSeries = 50

// maxTenantCells bounds the tenants given a cell of their own; tenants past
// it (never seen in a real policy) share one, summed in TenantOther.
const maxTenantCells = 1 << 16

// tenantDecay is the time constant of the ranking score: a tenant ranks
// by its requests, those of the last few minutes weighing most, so a
// tenant that starts a flood rises into the named series within a few
// scrapes instead of having to outgrow everyone's history.
const tenantDecay = 5 * time.Minute

// tenantKeep is the hysteresis of the ranking: a named tenant keeps its
// series until a newcomer's score passes its own by this factor, so two
// tenants near the cut do not swap series at every scrape.
const tenantKeep = 1.25

// tenantCell is one tenant's counters.
type tenantCell struct {
	requests [audit.NumDecisions]atomic.Uint64
	bytesOut atomic.Uint64
	// inFlight is the tenant's requests in flight, in every class
	// (limit.go, limitTenant). It lives here because a
	// cell outlives the snapshots: a request holds its count until it
	// settles, whatever policy is swapped in meanwhile. The overflow
	// cell's is unused: the tenants past maxTenantCells each have a
	// count of their own (tenantFlights).
	inFlight atomic.Int64
}

// tenantEntry is the scrape side of a cell: its ranking state and, while
// the tenant is shown by name, the counts at the scrape that named it.
// The named series shows the counts since then and TenantOther keeps the
// rest, so every series only ever grows and the series sum to the totals.
type tenantEntry struct {
	id        string
	cell      *tenantCell
	score     float64 // decayed requests
	last      uint64  // requests at the last ranking
	named     bool
	base      [audit.NumDecisions]uint64
	baseBytes uint64
	now       [audit.NumDecisions]uint64 // this ranking's reading
}

// tenantTable holds the cells of every tenant a policy named since start.
// The zero tenantTable is ready to use.
type tenantTable struct {
	none     tenantCell // requests without a tenant
	overflow tenantCell // tenants past maxTenantCells

	mu      sync.Mutex // guards the following fields
	byID    map[string]*tenantEntry
	entries []*tenantEntry
	ranked  time.Time // time of the last ranking
}

// cell returns the cell of tenant id, making it the first time the id is
// seen. The policy writer calls it while preparing a snapshot.
func (t *tenantTable) cell(id string) *tenantCell {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byID[id]; e != nil {
		return e.cell
	}
	if len(t.entries) >= maxTenantCells {
		return &t.overflow
	}
	if t.byID == nil {
		t.byID = map[string]*tenantEntry{}
	}
	e := &tenantEntry{id: id, cell: new(tenantCell)}
	t.byID[id] = e
	t.entries = append(t.entries, e)
	return e.cell
}

// cells returns the cells of snap's tenants, by Tenant.Index.
func (t *tenantTable) cells(snap *policy.Snapshot) []*tenantCell {
	cells := make([]*tenantCell, len(snap.TenantList))
	for i, tn := range snap.TenantList {
		cells[i] = t.cell(tn.ID)
	}
	return cells
}

// countTenant counts a finished request for its tenant by decision and
// returns the tenant's cell, for the caller to add the response bytes.
func (m *metrics) countTenant(x *exchange) *tenantCell {
	c := &m.tenants.none
	if x.client != nil && x.prep != nil {
		c = x.prep.tenantCell[x.client.Tenant.Index]
	}
	c.requests[x.rec.Decision].Add(1)
	return c
}

// rankLocked reads every cell once, updates the scores and picks the n
// tenants shown by name at now. A tenant newly named gets its reading as
// base; one that drops out hands its counts back to TenantOther.
func (t *tenantTable) rankLocked(n int, now time.Time) {
	decay := 0.0
	if !t.ranked.IsZero() {
		decay = math.Exp(-float64(now.Sub(t.ranked)) / float64(tenantDecay))
	}
	t.ranked = now
	for _, e := range t.entries {
		var total uint64
		for d := range e.now {
			e.now[d] = e.cell.requests[d].Load()
			total += e.now[d]
		}
		e.score = e.score*decay + float64(total-e.last)
		e.last = total
	}
	keep := t.pickLocked(n)
	for _, e := range t.entries {
		switch {
		case keep[e] && !e.named:
			e.named, e.base, e.baseBytes = true, e.now, e.cell.bytesOut.Load()
		case !keep[e]:
			e.named = false
		}
	}
}

// pickLocked returns the n tenants with the highest scores (ties by id),
// except that a named tenant outside them keeps its place against the
// weakest newcomer unless that newcomer's score is tenantKeep times its own.
// A tenant with no request yet is never picked.
func (t *tenantTable) pickLocked(n int) map[*tenantEntry]bool {
	order := make([]*tenantEntry, 0, len(t.entries))
	for _, e := range t.entries {
		if e.last > 0 {
			order = append(order, e)
		}
	}
	slices.SortFunc(order, func(a, b *tenantEntry) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		if a.id < b.id {
			return -1
		}
		return 1
	})
	top, rest := order[:min(n, len(order))], order[min(n, len(order)):]
	var newcomers, leavers []*tenantEntry
	for i := len(top) - 1; i >= 0; i-- { // weakest first
		if !top[i].named {
			newcomers = append(newcomers, top[i])
		}
	}
	for _, e := range rest { // strongest first
		if e.named {
			leavers = append(leavers, e)
		}
	}
	keep := make(map[*tenantEntry]bool, len(top))
	for _, e := range top {
		keep[e] = true
	}
	for i := 0; i < len(newcomers) && i < len(leavers); i++ {
		if newcomers[i].score < leavers[i].score*tenantKeep {
			delete(keep, newcomers[i])
			keep[leavers[i]] = true
		}
	}
	return keep
}

// appendTenantRequests ranks the tenants and appends
// portcullis_tenant_requests_total: the named tenants, then TenantOther
// and TenantNone, one sample per decision that has seen a request.
func (m *metrics) appendTenantRequests(b []byte) []byte {
	t := &m.tenants
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rankLocked(m.tenantSeries, time.Now())
	var other [audit.NumDecisions]uint64
	for _, e := range t.namedLocked() {
		for d := range e.now {
			other[d] += e.base[d]
			if e.now[d] > 0 { // from the scrape that named it, at 0 then
				b = appendTenantSample(b, "portcullis_tenant_requests_total", e.id, audit.Decision(d).String(), e.now[d]-e.base[d])
			}
		}
	}
	for _, e := range t.entries {
		if !e.named {
			for d := range other {
				other[d] += e.now[d]
			}
		}
	}
	for d := range other {
		other[d] += t.overflow.requests[d].Load()
	}
	b = appendTenantDecisions(b, TenantOther, &other)
	var none [audit.NumDecisions]uint64
	for d := range none {
		none[d] = t.none.requests[d].Load()
	}
	return appendTenantDecisions(b, TenantNone, &none)
}

// appendTenantBytes appends portcullis_tenant_response_bytes_total for the
// tenants the last ranking named, TenantOther and TenantNone.
func (m *metrics) appendTenantBytes(b []byte) []byte {
	t := &m.tenants
	t.mu.Lock()
	defer t.mu.Unlock()
	other := t.overflow.bytesOut.Load()
	for _, e := range t.namedLocked() { // at 0 when named, like the requests
		b = appendTenantSample(b, "portcullis_tenant_response_bytes_total", e.id, "", e.cell.bytesOut.Load()-e.baseBytes)
		other += e.baseBytes
	}
	for _, e := range t.entries {
		if !e.named {
			other += e.cell.bytesOut.Load()
		}
	}
	if other > 0 {
		b = appendTenantSample(b, "portcullis_tenant_response_bytes_total", TenantOther, "", other)
	}
	if n := t.none.bytesOut.Load(); n > 0 {
		b = appendTenantSample(b, "portcullis_tenant_response_bytes_total", TenantNone, "", n)
	}
	return b
}

// namedLocked returns the named tenants by descending score.
func (t *tenantTable) namedLocked() []*tenantEntry {
	var named []*tenantEntry
	for _, e := range t.entries {
		if e.named {
			named = append(named, e)
		}
	}
	slices.SortStableFunc(named, func(a, b *tenantEntry) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	return named
}

// appendTenantDecisions appends one portcullis_tenant_requests_total
// sample per decision of counts that is not zero.
func appendTenantDecisions(b []byte, tenant string, counts *[audit.NumDecisions]uint64) []byte {
	for d, n := range counts {
		if n > 0 {
			b = appendTenantSample(b, "portcullis_tenant_requests_total", tenant, audit.Decision(d).String(), n)
		}
	}
	return b
}

// appendTenantSample appends name{tenant="...",decision="..."} n, without
// the decision label when decision is "".
func appendTenantSample(b []byte, name, tenant, decision string, n uint64) []byte {
	b = append(b, name...)
	b = append(b, `{tenant="`...)
	b = appendLabelValue(b, tenant)
	if decision != "" {
		b = append(b, `",decision="`...)
		b = append(b, decision...)
	}
	b = append(b, `"} `...)
	b = strconv.AppendUint(b, n, 10)
	return append(b, '\n')
}
