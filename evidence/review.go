package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// Review kinds and decisions (review start and review sign).
const (
	ReviewAccess   = "access"
	ReviewLogs     = "logs"
	ReviewTabletop = "tabletop"

	ActionReviewSign = "review.sign"
)

// Worksheet builds the worksheet of a review of kind over cfg.Period:
// access, each privileged integration with its scopes, last use, owner
// and an empty keep/reduce/revoke column (CSV); logs, the credential scan
// and the integrity proof of the period (Markdown); tabletop, the
// token-compromise runbook with a record to fill (Markdown).
func Worksheet(cfg Config, kind string) ([]byte, error) {
	if cfg.VerifyKey == nil && cfg.SigningKey != nil {
		cfg.VerifyKey = cfg.SigningKey.Public().(ed25519.PublicKey)
	}
	b, err := load(&cfg)
	if err != nil {
		return nil, err
	}
	switch kind {
	case ReviewAccess:
		out, err := b.privilegedAccess()
		return bytes.Replace(out, []byte("review_decision"), []byte("review_decision (keep/reduce/revoke)"), 1), err
	case ReviewLogs:
		scan, err := b.credentialScan()
		if err != nil {
			return nil, err
		}
		ret, err := b.retention()
		return append(append(scan, '\n'), ret...), err
	case ReviewTabletop:
		rb, err := b.runbook()
		rec := "\n## Tabletop record\n\n- date:\n- participants:\n- scenario:\n- time to contain:\n- findings:\n- follow-up tickets:\n"
		return append(rb, rec...), err
	}
	return nil, fmt.Errorf("review kind %q: want access, logs or tabletop", kind)
}

// reviewRecords writes the review sign-offs and evidence approvals of the
// period from the lifecycle events the collector stored: those signed in
// the period, and the sign-offs of the period signed after it ends (a
// period is reviewed once it is over).
func (b *builder) reviewRecords() ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"time", "action", "target", "reviewer", "decision", "note", "ticket", "worksheet_sha256", "etcd_revision"})
	for i := range b.reviews {
		ev := &b.reviews[i]
		d := eventDetails(ev.Details)
		decision := d["decision"]
		if decision == "" {
			decision = d["status"]
		}
		w.Write(csvCells(rfc(ev.Time), ev.Action, ev.Target, ev.Actor, decision, ev.Reason, ev.Ticket,
			strings.TrimSpace(d["worksheet_sha256"]+d["sha256"]), strconv.FormatInt(ev.Revision, 10)))
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// reviewEvents returns, from every lifecycle event of the trail in
// storage order, the review sign-offs and evidence approvals signed in
// the period p, and the sign-offs about p (reviewedPeriod) signed after
// it.
func reviewEvents(all []collector.Event, p Period) []collector.Event {
	var out []collector.Event
	for i := range all {
		ev := &all[i]
		switch {
		case ev.Action != ActionReviewSign && ev.Action != etcdadmin.ActionEvidenceApprove:
		case p.Contains(ev.Time), ev.Action == ActionReviewSign && !ev.Time.Before(p.To) && reviews(ev, p):
			out = append(out, *ev)
		}
	}
	return out
}

// reviewedPeriod returns the period a review.sign event names: a range
// by its "from" and "to" details (RFC 3339, to exclusive), else its
// "period" detail, else its target after the kind ("access-2026-Q2").
func reviewedPeriod(ev *collector.Event) (Period, bool) {
	d := eventDetails(ev.Details)
	if d["from"] != "" || d["to"] != "" {
		from, ferr := time.Parse(time.RFC3339, d["from"])
		to, terr := time.Parse(time.RFC3339, d["to"])
		return Period{Name: d["period"], From: from.UTC(), To: to.UTC()}, ferr == nil && terr == nil && from.Before(to)
	}
	name := d["period"]
	if name == "" {
		_, name, _ = strings.Cut(ev.Target, "-")
	}
	p, err := ParsePeriod(name)
	return p, err == nil
}

// reviews reports whether ev, a review.sign event, reviews (some of) p:
// the period it names overlaps p, and it was signed once that period had
// begun. The time it was signed at says nothing about what it reviewed.
func reviews(ev *collector.Event, p Period) bool {
	named, ok := reviewedPeriod(ev)
	return ok && named.From.Before(p.To) && p.From.Before(named.To) && !ev.Time.Before(named.From)
}

// reviewsSigned counts the approved review sign-offs about the period, and
// those signed in it about another period (which do not count).
func (b *builder) reviewsSigned() (about, other int) {
	for i := range b.reviews {
		ev := &b.reviews[i]
		if ev.Action != ActionReviewSign || eventDetails(ev.Details)["decision"] != "approved" {
			continue
		}
		if reviews(ev, b.cfg.Period) {
			about++
		} else {
			other++
		}
	}
	return about, other
}
