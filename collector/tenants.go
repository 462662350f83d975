package collector

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
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
	BytesOut       int64   `json:"bytes_out"`
	BytesShare     float64 `json:"bytes_share_pct"`
}

// TenantReport is the tenants of a period ranked by one of their counts,
// with the period's totals.
type TenantReport struct {
	From      time.Time     `json:"from,omitzero"`
	To        time.Time     `json:"to,omitzero"`
	By        string        `json:"by"`
	Requests  int64         `json:"requests"`
	Throttled int64         `json:"throttled"`
	BytesOut  int64         `json:"bytes_out"`
	Count     int           `json:"tenants"` // tenants seen, listed or not
	Tenants   []TenantShare `json:"top"`
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
// aggregated record counts for the requests it stands for.
func TopTenants(dir string, from, to time.Time, by string, limit int) (*TenantReport, error) {
	if by != ByRequests && by != ByThrottled && by != ByBytes {
		return nil, fmt.Errorf("collector: unknown tenant order %q (want requests, throttled or bytes)", by)
	}
	rep := &TenantReport{From: from, To: to, By: by, Tenants: []TenantShare{}} // none: [] in JSON, not null
	byTenant := map[string]*TenantShare{}
	err := QueryRecords(dir, Filter{From: from, To: to}, func(r *StoredRecord) error {
		rep.add(byTenant, r)
		return nil
	})
	if err != nil {
		return nil, err
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
	return rep, nil
}

// add counts r for its tenant and in the totals.
func (rep *TenantReport) add(byTenant map[string]*TenantShare, r *StoredRecord) {
	s := byTenant[r.Tenant]
	if s == nil {
		s = &TenantShare{Tenant: r.Tenant}
		byTenant[r.Tenant] = s
	}
	n := max(r.Count, 1)
	s.Requests += n
	rep.Requests += n
	if r.Status == 429 {
		s.Throttled += n
		rep.Throttled += n
	}
	s.BytesOut += r.BytesOut
	rep.BytesOut += r.BytesOut
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
	fmt.Fprintln(tw, "TENANT\tREQUESTS\tSHARE\tTHROTTLED (429)\tSHARE\tBYTES OUT\tSHARE\t")
	for _, s := range rep.Tenants {
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%d\t%.1f%%\t%d\t%.1f%%\t\n", cell(s.Tenant),
			s.Requests, s.RequestShare, s.Throttled, s.ThrottledShare, s.BytesOut, s.BytesShare)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d tenants (%d shown, by %s; - is requests without a tenant), %d requests, %d throttled, %d bytes out, %s\n",
		rep.Count, len(rep.Tenants), rep.By, rep.Requests, rep.Throttled, rep.BytesOut, rep.period())
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
