package collector

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// TenantShare is one tenant's part of the audit trail over a period:
// its requests, those answered 429 (throttled) and the response bytes
// sent, each with its share of the period's total in percent.
type TenantShare struct {
	Tenant         string  `json:"tenant"` // "" for requests without a tenant
	Requests       int64   `json:"requests"`
	RequestShare   float64 `json:"request_share_pct"`
	Throttled      int64   `json:"throttled"`
	ThrottledShare float64 `json:"throttled_share_pct"`
	// ThrottledBy splits Throttled by the limit that refused the
	// requests: the tenant's own clients' limits, or its tenant-wide ones.
	ThrottledBy ThrottledBy `json:"throttled_by"`
	BytesOut    int64       `json:"bytes_out"`
	BytesShare  float64     `json:"bytes_share_pct"`
	// Unverified counts the requests naming the tenant whose records'
	// entries were not verified (TopTenantsVerified): without a key,
	// every request above. With one it is 0: an entry that failed its
	// checks names its tenant by the forger's word, so it counts in the
	// report's Unverified alone, in no tenant's row.
	Unverified int64 `json:"unverified"`
}

// TenantReport is the tenants of a period ranked by one of their counts,
// with the period's totals.
type TenantReport struct {
	From      time.Time `json:"from,omitzero"`
	To        time.Time `json:"to,omitzero"`
	By        string    `json:"by"`
	Requests  int64     `json:"requests"`
	Throttled int64     `json:"throttled"`
	// ThrottledBy splits Throttled by the limit that refused the
	// requests, over every tenant.
	ThrottledBy ThrottledBy `json:"throttled_by"`
	BytesOut    int64       `json:"bytes_out"`
	// Unverified counts the requests whose records' entries were not
	// verified: each failed its own checks (hash, link, seq, the
	// collector's signature), and is then in no other count, or no key
	// was given, and every count holds them (TopTenantsVerified).
	Unverified int64 `json:"unverified"`
	// RefusedBeforeHTTP counts the records of connections refused before
	// a request was read (a client certificate refused at the TLS
	// handshake: StoredRecord.RefusedBeforeHTTP). They are no request of
	// any tenant, so none of the counts above holds them.
	RefusedBeforeHTTP int64         `json:"refused_before_http"`
	Count             int           `json:"tenants"` // tenants seen, listed or not
	Tenants           []TenantShare `json:"top"`
}

// ThrottledBy counts throttled requests (429) by the limit that refused
// them, as their records name it (StoredRecord.Limit): the client's own
// bucket (key), the tenant's (tenant), the tenant+class bucket (class) or
// the tenant+class in-flight cap (concurrency) or the tenant's default
// in-flight cap, in every class (tenant_in_flight). Unnamed counts the 429s
// whose record names none of those: records of sidecars from before the
// field, and other senders'.
type ThrottledBy struct {
	Key            int64 `json:"key"`
	Tenant         int64 `json:"tenant"`
	Class          int64 `json:"class"`
	Concurrency    int64 `json:"concurrency"`
	TenantInFlight int64 `json:"tenant_in_flight"`
	Unnamed        int64 `json:"unnamed"`
}

// add counts n requests the limit named limit refused.
func (t *ThrottledBy) add(limit string, n int64) {
	switch limit {
	case "key":
		t.Key += n
	case "tenant":
		t.Tenant += n
	case "class":
		t.Class += n
	case "concurrency":
		t.Concurrency += n
	case "tenant_in_flight":
		t.TenantInFlight += n
	default:
		t.Unnamed += n
	}
}

// String lists the nonzero counts of t as name=count, comma-separated,
// or "-" when there are none.
func (t ThrottledBy) String() string {
	var b []byte
	for _, c := range [...]struct {
		name string
		n    int64
	}{{"key", t.Key}, {"tenant", t.Tenant}, {"class", t.Class}, {"concurrency", t.Concurrency}, {"tenant_in_flight", t.TenantInFlight}, {"unnamed", t.Unnamed}} {
		if c.n == 0 {
			continue
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(append(append(b, c.name...), '='), c.n, 10)
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// Orders of TopTenants.
const (
	ByRequests  = "requests"
	ByThrottled = "throttled"
	ByBytes     = "bytes"
)

// TopTenants reads the records of dir in [from, to) (zero bounds are
// open) and returns the tenants ranked by by (ByRequests, ByThrottled or
// ByBytes; ties by requests, then id), at most limit of them (0: all). An
// aggregated record counts for the requests it stands for. It verifies
// nothing: every request counts as unverified (see TopTenantsVerified).
func TopTenants(dir string, from, to time.Time, by string, limit int) (*TenantReport, error) {
	rep, _, err := TopTenantsVerified(dir, from, to, by, limit, nil, VerifyOptions{})
	return rep, err
}

// TopTenantsVerified is TopTenants reading the store once, as audit query
// does (WriteVerifiedRecords), and verifying it with pub and opts: the
// requests whose records' entries fail their own checks are counted in
// the report's Unverified, and in no tenant's row, other count or share,
// as the evidence pack and detection's replay leave them out: a forged
// entry's numbers were counted in the totals and shares while verify
// failed (TestTenantsTopCountsRecordsItCannotVerify). It returns the store's
// verification report (nil with a nil pub, when every request counts as
// unverified).
func TopTenantsVerified(dir string, from, to time.Time, by string, limit int, pub ed25519.PublicKey, opts VerifyOptions) (*TenantReport, *VerifyReport, error) {
	if by != ByRequests && by != ByThrottled && by != ByBytes {
		return nil, nil, fmt.Errorf("collector: unknown tenant order %q (want requests, throttled or bytes)", by)
	}
	rep := &TenantReport{From: from, To: to, By: by, Tenants: []TenantShare{}} // none: [] in JSON, not null
	byTenant := map[string]*TenantShare{}
	vrep, err := ReadStore(dir, Pass{Filter: Filter{From: from, To: to}, VerifyKey: pub, Verify: opts, MarkVerified: true,
		Records: func(e *Entry, r *StoredRecord) error {
			rep.add(byTenant, r, e.Verified, pub != nil)
			return nil
		}})
	if err != nil {
		return nil, nil, err
	}
	for _, s := range byTenant {
		s.RequestShare = percent(s.Requests, rep.Requests)
		s.ThrottledShare = percent(s.Throttled, rep.Throttled)
		s.BytesShare = percent(s.BytesOut, rep.BytesOut)
		rep.Tenants = append(rep.Tenants, *s)
	}
	rep.Count = len(rep.Tenants)
	slices.SortFunc(rep.Tenants, func(a, b TenantShare) int { return compareShares(&a, &b, by) })
	if limit > 0 && len(rep.Tenants) > limit {
		rep.Tenants = rep.Tenants[:limit]
	}
	return rep, vrep, nil
}

// add counts r for its tenant and in the totals (unverified too when its
// entry was not verified). An entry that failed its checks under a key
// (keyed) counts in the report's Unverified alone: no tenant's row.
func (rep *TenantReport) add(byTenant map[string]*TenantShare, r *StoredRecord, verified, keyed bool) {
	if keyed && !verified {
		// Its tenant is the forger's word too: a row of its own (0
		// requests) named a tenant only forged entries named, and counted
		// it among the tenants seen (TestTenantsTopForgedTenantHasNoRow).
		rep.Unverified = satAdd(rep.Unverified, r.Requests())
		return
	}
	if r.RefusedBeforeHTTP() {
		rep.RefusedBeforeHTTP += r.Requests()
		return
	}
	s := tenantRow(byTenant, r.Tenant)
	// Count and BytesOut are as the sender wrote them: a record stands
	// for at most MaxRequestsPerRecord requests, and only when the sidecar could have
	// aggregated it (Requests, as alert detection counts it), and only
	// bytes sent count, held at math.MaxInt64, so absurd values can
	// neither wrap a sum negative nor take a tenant's traffic off it.
	n := r.Requests()
	s.Requests += n
	rep.Requests += n
	if r.Status == 429 {
		s.Throttled += n
		rep.Throttled += n
		s.ThrottledBy.add(r.Limit, n)
		rep.ThrottledBy.add(r.Limit, n)
	}
	if r.BytesOut > 0 {
		s.BytesOut = satAdd(s.BytesOut, r.BytesOut)
		rep.BytesOut = satAdd(rep.BytesOut, r.BytesOut)
	}
	if !verified {
		s.Unverified += n
		rep.Unverified += n
	}
}

// tenantRow is tenant's row in byTenant, made when it has none.
func tenantRow(byTenant map[string]*TenantShare, tenant string) *TenantShare {
	s := byTenant[tenant]
	if s == nil {
		s = &TenantShare{Tenant: tenant}
		byTenant[tenant] = s
	}
	return s
}

// satAdd is a+b for a, b >= 0, held at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxInt64
}

// compareShares orders a before b when its count by is higher; ties by
// requests, then tenant id.
func compareShares(a, b *TenantShare, by string) int {
	key := func(s *TenantShare) int64 {
		switch by {
		case ByThrottled:
			return s.Throttled
		case ByBytes:
			return s.BytesOut
		}
		return s.Requests
	}
	switch {
	case key(a) != key(b):
		return cmpDesc(key(a), key(b))
	case a.Requests != b.Requests:
		return cmpDesc(a.Requests, b.Requests)
	}
	return strings.Compare(a.Tenant, b.Tenant)
}

func cmpDesc(a, b int64) int {
	if a > b {
		return -1
	}
	return 1
}

func percent(n, total int64) float64 {
	if total == 0 {
		return 0
	}
	return float64(n) * 100 / float64(total)
}

// WriteTable writes rep as aligned columns, then a line with the totals.
func (rep *TenantReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TENANT\tREQUESTS\tSHARE\tTHROTTLED (429)\tSHARE\tBYTES OUT\tSHARE\tUNVERIFIED\tTHROTTLED BY LIMIT\t")
	for _, s := range rep.Tenants {
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%d\t%.1f%%\t%d\t%.1f%%\t%d\t%s\t\n", Cell(s.Tenant),
			s.Requests, s.RequestShare, s.Throttled, s.ThrottledShare, s.BytesOut, s.BytesShare, s.Unverified, s.ThrottledBy)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	refused := ""
	if rep.RefusedBeforeHTTP > 0 {
		refused = fmt.Sprintf("%d connections refused before HTTP (TLS handshake), ", rep.RefusedBeforeHTTP)
	}
	_, err := fmt.Fprintf(w, "%d tenants (%d shown, by %s; - is requests without a tenant), %d requests, %d throttled, %d bytes out, %d unverified, %s%s\n",
		rep.Count, len(rep.Tenants), rep.By, rep.Requests, rep.Throttled, rep.BytesOut, rep.Unverified, refused, rep.period())
	return err
}

// WriteJSON writes rep as one indented JSON object.
func (rep *TenantReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// period says which records rep covers.
func (rep *TenantReport) period() string {
	f, t := "the first record", "the last"
	if !rep.From.IsZero() {
		f = rep.From.UTC().Format(time.RFC3339)
	}
	if !rep.To.IsZero() {
		t = rep.To.UTC().Format(time.RFC3339) + " (exclusive)"
	}
	return "from " + f + " to " + t
}
