package evidence

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// Finding (review 26): the tallies are keyed by names the records carry
// (tenant, client, pod, approval id), and a record's fields are its
// sender's claim: a sender bound to no tenant that wrote a new name in
// every record grew the tallies by one entry a record while a pack was
// built. A store of records each with a made-up tenant, integration, pod
// and approval id: the tallies hold the names some policy of the period
// names, and count the others under "(not in policy)"; the pods past the
// first maxPods of a revocation and the approval ids past the first
// maxApprovalIDs are counted together, and the pack says so; a record
// dated ahead of its receipt is counted on the day it was received. No
// request is lost: the tenant shares, the denials and the approvals'
// counts add up to the records written.
func TestPackBoundsMadeUpNames(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a store of 175,000 records")
	}
	data, key := t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Retention: 400 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The current quarter: the collector dates an entry by its clock, and
	// a record dated ahead of it is of the period the entry is in.
	now := time.Now().UTC()
	p, err := ParsePeriod(fmt.Sprintf("%d-Q%d", now.Year(), (int(now.Month())-1)/3+1))
	if err != nil {
		t.Fatal(err)
	}
	if now.Sub(p.From) < time.Hour || p.To.Sub(now) < time.Hour {
		t.Skip("within an hour of a quarter's edge")
	}
	revokedAt := now.Add(-10 * time.Minute)
	if err := st.AppendEvents([]collector.Event{{Time: revokedAt, Key: "/p/events/1", Revision: 41, Actor: "alice",
		Action: "key.revoke", Target: "acmehris1", Reason: "leaked", Ticket: "SEC-9"}}); err != nil {
		t.Fatal(err)
	}
	// Each record names a new tenant, integration and approval id; every
	// fifth is one of each kind below. The real tenant and integration
	// (acme, acme-admin) are counted under their names.
	const n = 175000
	var want struct{ allowedMadeUp, allowedReal, throttled, revoked, refused, approvalNamed int64 }
	// A batch names its pod: the denials come ten to a batch, each batch
	// with a made-up pod.
	recs, denied := make([]collector.StoredRecord, 0, 5000), make([]collector.StoredRecord, 0, 10)
	flush := func(recs *[]collector.StoredRecord, id, pod string) {
		if err := st.AppendBatch(&collector.Batch{ID: id, Sender: "token:shared", Pod: pod, Records: *recs}); err != nil {
			t.Fatal(err)
		}
		*recs = (*recs)[:0]
	}
	for i := range n {
		id := strconv.Itoa(i)
		r := collector.StoredRecord{Time: revokedAt.Add(time.Minute + time.Duration(i)*time.Millisecond), Tenant: "made-up-tenant-" + id,
			Client: "made-up-client-" + id, Method: "PUT", Route: "/v1/admin/settings", Path: "/v1/admin/settings",
			RequestID: "r-" + id, SourceIP: "192.0.2.7", ApprovalID: "made-up-approval-" + id}
		switch i % 5 {
		case 0: // an allowed privileged request of a made-up integration
			r.Status, r.Decision = 200, "allowed"
			want.allowedMadeUp++
		case 1: // an allowed privileged request of a real one, under a made-up approval
			r.Tenant, r.Client, r.Status, r.Decision = "acme", "acme-admin", 200, "allowed"
			want.allowedReal++
		case 2: // a 429 of a made-up tenant, dated a made-up day ahead of its receipt
			r.Status, r.Decision, r.Limit = 429, "rate_limited", "tenant"
			r.Time, r.Flags = r.Time.AddDate(5, 0, i), []string{collector.FlagTimeOutsideWindow}
			want.throttled++
		case 4: // a request of a made-up tenant refused for want of an approval
			r.Status, r.Decision = 403, "approval_required"
			want.refused++
		case 3: // a denial of the revoked key, claimed for a made-up pod
			r.Tenant, r.Client, r.KeyID, r.Status, r.Decision = "", "", "acmehris1", 401, "key_revoked"
			want.revoked++
			if denied = append(denied, r); len(denied) == cap(denied) {
				flush(&denied, "d"+id, "made-up-pod-"+id)
			}
			continue
		}
		if r.Decision == "allowed" || r.Decision == "approval_required" {
			want.approvalNamed++
		}
		if recs = append(recs, r); len(recs) == cap(recs) {
			flush(&recs, "b"+id, "")
		}
	}
	flush(&recs, "b", "")
	flush(&denied, "d", "made-up-pod-last")
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d"}

	// The bound: what the tallies hold, as the pass over the store leaves them.
	b, err := load(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	tl := b.tally
	known := len(b.doc.Tenants) + len(b.doc.Clients) + 2 // and "" and the bucket
	for name, size := range map[string]int{"tenant": len(tl.tenant), "unbound": len(tl.unbound), "tenantDenied": len(tl.tenantDenied),
		"client": len(tl.client), "last": len(tl.last), "priv": len(tl.priv), "denials": len(tl.denials)} {
		if size > known {
			t.Errorf("the %s tally holds %d names after %d records of made-up names, want at most %d (the policy's and %q)", name, size, n, known, notInPolicy)
		}
	}
	if days := int(p.To.Sub(p.From).Hours() / 24); len(tl.daily) > days {
		t.Errorf("the daily tally holds %d days, want at most the period's %d", len(tl.daily), days)
	}
	if got := len(tl.firstBy[0]); got > maxPods+1 {
		t.Errorf("the first denials by sidecar hold %d pods, want at most %d and %q", got, maxPods, morePods)
	}
	if got := len(tl.approvals); got > maxApprovalIDs {
		t.Errorf("the approvals tally holds %d ids, want at most %d", got, maxApprovalIDs)
	}

	// The totals: nothing counted is lost.
	if tl.records != n || tl.total != n {
		t.Errorf("records %d, requests %d; want %d of each", tl.records, tl.total, n)
	}
	if got, w := tl.tenant[notInPolicy], want.allowedMadeUp+want.throttled+want.refused; got != w {
		t.Errorf("requests of tenants not in policy: %d, want %d", got, w)
	}
	var counted int64
	for _, c := range tl.approvals {
		counted += c[0] + c[1]
	}
	if got := counted + tl.approvalsOver[0] + tl.approvalsOver[1]; got != want.approvalNamed || tl.approvalsOver[1] == 0 {
		t.Errorf("approvals: %d requests counted by id and %v past the first %d, want %d in all and some past them", counted, tl.approvalsOver, maxApprovalIDs, want.approvalNamed)
	}

	res, err := Pack(cfg)
	if err != nil {
		t.Fatal(err)
	}
	csvOf := func(area, name string) [][]string {
		return readCSV(t, filepath.Join(res.Dir, FileName(area, name, p.Name, "csv")))[1:]
	}
	var shares, denials int64
	rows := 0
	for _, r := range csvOf("APIRateLimits", "ThrottlingSample") {
		c, _ := strconv.ParseInt(r[4], 10, 64)
		switch r[0] {
		case "tenant_share":
			shares += c
			rows++
		case "daily_count":
			denials += c
		}
	}
	if shares != n || rows > known {
		t.Errorf("ThrottlingSample: %d tenant_share rows adding up to %d, want at most %d adding up to %d", rows, shares, known, n)
	}
	if w := want.throttled + want.revoked + want.refused; denials != w {
		t.Errorf("ThrottlingSample: daily counts add up to %d, want %d", denials, w)
	}
	priv := map[string]string{}
	for _, r := range csvOf("APIPrivileged", "PrivilegedAccess") {
		priv[r[0]] = r[4]
	}
	if priv["acme-admin"] != fmt.Sprint(want.allowedReal) || priv[notInPolicy] != fmt.Sprint(want.allowedMadeUp) {
		t.Errorf("PrivilegedAccess: acme-admin %q and %s %q, want %d and %d", priv["acme-admin"], notInPolicy, priv[notInPolicy], want.allowedReal, want.allowedMadeUp)
	}
	var revs [][]string
	for _, r := range csvOf("APIAuth", "RevocationRecords") {
		if r[1] == "key.revoke" {
			revs = append(revs, r)
		}
	}
	// The cell lists the pods that fit a spreadsheet cell and counts the
	// rest (TestRevocationCellFitsASpreadsheet): one sender's first
	// maxPodsPerSender pods and the rest under morePodsOfSender.
	if len(revs) != 1 {
		t.Fatalf("RevocationRecords: %d key.revoke rows, want 1", len(revs))
	}
	cell := revs[0][8]
	listed, more := strings.Count(cell, "made-up-pod-"), 0
	if i := strings.LastIndex(cell, " and "); i >= 0 {
		fmt.Sscanf(cell[i:], " and %d more", &more)
	}
	if listed+more != maxPodsPerSender || !strings.Contains(cell, morePodsOfSender) || len([]rune(cell)) > maxCellChars {
		t.Errorf("RevocationRecords: the first denials by sidecar list %d made-up pods and %d more (%d characters), with %q: want %d in all, it, and at most %d characters",
			listed, more, len([]rune(cell)), morePodsOfSender, maxPodsPerSender, maxCellChars)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "approval ids past the first") {
		t.Errorf("the warnings do not say the approval ids past the first %d were counted together:\n%s", maxApprovalIDs, strings.Join(res.Warnings, "\n"))
	}
}
