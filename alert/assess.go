package alert

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
)

// Assessment is what a client's credentials did in a period, from the
// trail: the runbook's "assess data accessed" step.
type Assessment struct {
	Client     string           `json:"client"`
	From       time.Time        `json:"from,omitzero"`
	To         time.Time        `json:"to,omitzero"`
	Records    int64            `json:"records"` // requests (an aggregated record counts what it stands for)
	BytesOut   int64            `json:"bytes_out"`
	FirstSeen  time.Time        `json:"first_seen,omitzero"`
	LastSeen   time.Time        `json:"last_seen,omitzero"`
	Routes     map[string]int64 `json:"routes"` // "METHOD /template" -> requests
	Tenants    map[string]int64 `json:"tenants"`
	Statuses   map[string]int64 `json:"statuses"`
	Decisions  map[string]int64 `json:"decisions"`
	Sources    map[string]int64 `json:"sources"`
	KeyIDs     map[string]int64 `json:"key_ids"`
	Privileged []Access         `json:"privileged"` // requests to privileged and bulk classes, allowed or not
	// Unverified counts the requests whose records' entries were not
	// verified (AssessVerified): with a key, those that failed their own
	// checks (hash, link, seq, the collector's signature), which are in
	// no count above; without one, every request above.
	Unverified int64 `json:"unverified"`
	// Policy says whether the policy given names the client: "known",
	// "NOT IN POLICY", or "not checked" without a policy. Before, a
	// client the policy does not know (a typo, a prefix) got the same
	// empty report as a known one that made no request.
	Policy string `json:"policy"`
}

// What Assessment.Policy says of the client.
const (
	PolicyKnown      = "known"
	PolicyUnknown    = "NOT IN POLICY"
	PolicyNotChecked = "not checked (no --policy given)"
)

// policyOf says whether doc names client.
func policyOf(doc *policy.Document, client string) string {
	if doc == nil {
		return PolicyNotChecked
	}
	for _, c := range doc.Clients {
		if c.ID == client {
			return PolicyKnown
		}
	}
	return PolicyUnknown
}

// Access is one request to a privileged or bulk route.
type Access struct {
	Time      time.Time `json:"time"`
	Route     string    `json:"route"`
	Status    int64     `json:"status"`
	Decision  string    `json:"decision"`
	RequestID string    `json:"request_id"`
	SourceIP  string    `json:"source_ip"`
	// Flags holds collector.FlagUnverified when the record's entry was
	// not verified.
	Flags []string `json:"flags,omitempty"`
}

// maxPrivileged caps the privileged requests an assessment lists.
const maxPrivileged = 1000

// Assess reads the records of client in [from, to) from the trail in dir.
// doc, when not nil, says which routes are privileged or bulk; records of
// a refused key name the client through doc's keys too. It verifies
// nothing: every record counts as unverified (see AssessVerified).
func Assess(dir, client string, from, to time.Time, doc *policy.Document) (*Assessment, error) {
	a, _, err := AssessVerified(dir, client, from, to, doc, nil, collector.VerifyOptions{})
	return a, err
}

// AssessVerified is Assess reading the store once, as audit query does
// (collector.WriteVerifiedRecords), and verifying it with pub and opts:
// the records of entries that failed their own checks are counted in
// Unverified alone, in no other count, breakdown or privileged request. It
// returns the store's verification report (nil with a nil pub, when every
// record counts as unverified).
func AssessVerified(dir, client string, from, to time.Time, doc *policy.Document, pub ed25519.PublicKey, opts collector.VerifyOptions) (*Assessment, *collector.VerifyReport, error) {
	idx := newIndex(doc)
	a := &Assessment{Client: client, From: from, To: to, Routes: map[string]int64{}, Tenants: map[string]int64{},
		Statuses: map[string]int64{}, Decisions: map[string]int64{}, Sources: map[string]int64{}, KeyIDs: map[string]int64{},
		Privileged: []Access{}, // none: [] in JSON, not null
		Policy:     policyOf(doc, client)}
	priv := privilegedRoutes(doc)
	p := collector.Pass{Filter: collector.Filter{From: from, To: to}, VerifyKey: pub, Verify: opts, MarkVerified: true,
		Records: func(e *collector.Entry, r *collector.StoredRecord) error {
			if r.Client != client && !(r.Client == "" && r.KeyID != "" && idx.keyClient[r.KeyID] == client) {
				return nil
			}
			a.add(r, priv, e.Verified, pub != nil, idx.subject(r, nil).client == client)
			return nil
		}}
	rep, err := collector.ReadStore(dir, p)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot assess client %q from %q: %w", client, dir, err)
	}
	return a, rep, nil
}

func privilegedRoutes(doc *policy.Document) map[string]bool {
	out := map[string]bool{}
	if doc == nil {
		return out
	}
	kinds := map[string]string{}
	for _, c := range doc.Classes {
		kinds[c.Name] = c.Kind
	}
	for _, r := range doc.Routes {
		if k := kinds[r.Class]; k == "privileged" || k == "bulk" {
			out[r.Method+" "+r.Path] = true
		}
	}
	return out
}

// add counts r. Its count and bytes are its sender's to write: a record
// stands for its count only as the sidecar aggregates
// (collector.StoredRecord.Requests, at most collector.MaxRequestsPerRecord), only bytes sent
// count, and every sum holds at math.MaxInt64 (satAdd), as tenants top
// and the evidence pack count them. Summed as written, two records of
// count and bytes math.MaxInt64 wrapped the totals negative, and chosen
// values wrapped a client's real volume to any figure the sender liked
// (TestAssessCountsAsTheSidecarAggregates).
//
// about says whether r is about the assessed client as detection takes
// it (index.subject): a record naming the client, or its key, that is not
// is no fold of its sidecar, and counts one request. A sender bound to
// acme, which may write records of acme and of no tenant, made a million
// refusals of globex's client a record (TestAssessForeignClientCountNotBelieved),
// and 50,000 guesses at its key (TestAssessBoundSenderUntenantedKeyCountNotBelieved).
//
// A record whose entry failed its checks under a key (keyed) counts in
// Unverified alone: what it says (tenant, route, source, time) is the
// forger's word, and it named tenants and routes of its own in the
// breakdowns (TestIncidentAssessCountsRecordsItCannotVerify).
func (a *Assessment) add(r *collector.StoredRecord, priv map[string]bool, verified, keyed, about bool) {
	n := r.Requests()
	if !about {
		n = 1
	}
	if keyed && !verified {
		a.Unverified = satAdd(a.Unverified, n)
		return
	}
	var flags []string
	if !verified {
		a.Unverified = satAdd(a.Unverified, n)
		flags = []string{collector.FlagUnverified}
	}
	route := r.Method + " " + r.Route
	a.Records = satAdd(a.Records, n)
	a.BytesOut = satAdd(a.BytesOut, max(r.BytesOut, 0))
	addTo(a.Routes, route, n)
	addTo(a.Tenants, r.Tenant, n)
	addTo(a.Statuses, r.StatusText(), n)
	addTo(a.Decisions, r.Decision, n)
	addTo(a.Sources, r.SourceIP, n)
	if r.KeyID != "" {
		addTo(a.KeyIDs, r.KeyID, n)
	}
	// Seen no later than stored (CountedAt): a time ahead of that is the
	// sender's, and one forged record dated years ahead was the client's
	// last seen (TestAssessLastSeenNeverAfterReceipt).
	at := r.CountedAt()
	if a.FirstSeen.IsZero() || at.Before(a.FirstSeen) {
		a.FirstSeen = at
	}
	if at.After(a.LastSeen) {
		a.LastSeen = at
	}
	if priv[route] && len(a.Privileged) < maxPrivileged {
		a.Privileged = append(a.Privileged, Access{Time: r.Time, Route: route, Status: r.Status, Decision: r.Decision, RequestID: r.RequestID, SourceIP: r.SourceIP, Flags: flags})
	}
}

// addTo adds n to m[k], holding at math.MaxInt64.
func addTo(m map[string]int64, k string, n int64) { m[k] = satAdd(m[k], n) }

// WriteAssessment writes a as text: totals, then each breakdown sorted by
// count, text from the trail with what reads as a credential redacted.
func WriteAssessment(w io.Writer, a *Assessment) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// text from the trail is reportText: it cannot move the cursor or start a line, and holds no credential
	fmt.Fprintf(tw, "client\t%s\npolicy\t%s\n", reportText(a.Client), a.Policy)
	if a.Policy == PolicyUnknown {
		held := "holds no record of it in the range"
		if a.Records > 0 {
			held = fmt.Sprintf("holds %d requests of it in the range, below", a.Records)
		}
		fmt.Fprintf(tw, "note\tthe policy has no client of this id (client ids are exact; portcullis clients list names them); the trail %s\n", held)
	}
	fmt.Fprintf(tw, "records\t%d\nunverified\t%d\nbytes out\t%d\nfirst seen\t%s\nlast seen\t%s\n", a.Records, a.Unverified, a.BytesOut, stamp(a.FirstSeen), stamp(a.LastSeen))
	for _, s := range []struct {
		name string
		m    map[string]int64
	}{{"routes", a.Routes}, {"tenants", a.Tenants}, {"statuses", a.Statuses}, {"decisions", a.Decisions}, {"sources", a.Sources}, {"key ids", a.KeyIDs}} {
		fmt.Fprintf(tw, "%s:\n", s.name)
		for _, k := range byCount(s.m) {
			fmt.Fprintf(tw, "  %s\t%d\n", dash(reportText(k)), s.m[k])
		}
	}
	fmt.Fprintf(tw, "privileged requests:\t%d\n", len(a.Privileged))
	for _, p := range a.Privileged {
		fmt.Fprintf(tw, "  %s\t%s\t%d %s\t%s\t%s\t%s\n", stamp(p.Time), reportText(p.Route), p.Status, reportText(p.Decision), reportText(p.SourceIP), reportText(p.RequestID), dash(strings.Join(p.Flags, ",")))
	}
	return tw.Flush()
}

// reportText is text from the trail as a report shows it: plainText,
// with what reads as a credential redacted (redact).
func reportText(s string) string { return redact(plainText(s)) }

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func byCount(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	return keys
}
