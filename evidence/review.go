package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/csv"
	"errors"
	"fmt"
	"sort"
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
//
// The warnings are what the worksheet found wrong with the data it rests
// on (the store began after the period, batches or segments missing, the
// store unverified or failing its checks), for the command to print: the
// access and logs worksheets say them too, where the reviewer reads.
func Worksheet(cfg Config, kind string) (ws []byte, warnings []string, err error) {
	if cfg.VerifyKey == nil && cfg.SigningKey != nil {
		cfg.VerifyKey = cfg.SigningKey.Public().(ed25519.PublicKey)
	}
	b, err := load(&cfg)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range b.incomplete() {
		b.warn("%s", t)
	}
	if !b.partial.IsZero() {
		b.warn("period %s ends %s, after the worksheet was made (%s): it covers the period only to then", cfg.Period.Name, rfc(cfg.Period.To), rfc(b.partial))
	}
	ws, err = b.worksheet(kind)
	return ws, b.warnings, err
}

// worksheet builds the worksheet of kind (Worksheet).
func (b *builder) worksheet(kind string) ([]byte, error) {
	mark := WorksheetMark(kind, b.cfg.Period)
	switch kind {
	case ReviewAccess:
		out, err := b.privilegedAccess()
		out = bytes.Replace(out, []byte("review_decision"), []byte("review_decision (keep/reduce/revoke)"), 1)
		// The mark is the first row: its one cell, then empty ones to the
		// header's width, so every row has as many fields.
		header, _, _ := bytes.Cut(out, []byte("\n"))
		width := bytes.Count(header, []byte(","))
		out = append([]byte(mark+strings.Repeat(",", width)+"\n"), out...)
		return b.accessNotes(out, width+1), err
	case ReviewLogs:
		scan, err := b.credentialScan()
		if err != nil {
			return nil, err
		}
		ret, err := b.retention()
		head := mark + "\n\n"
		if note := b.partialNote(); note != "" {
			head += note + "\n\n"
		}
		return append(append(append([]byte(head), scan...), '\n'), ret...), err
	case ReviewTabletop:
		rb, err := b.runbook()
		rec := "\n## Tabletop record\n\n- date:\n- participants:\n- scenario:\n- time to contain:\n- findings:\n- follow-up tickets:\n"
		return append(append([]byte(mark+"\n\n"), rb...), rec...), err
	}
	return nil, fmt.Errorf("review kind %q: want access, logs or tabletop", kind)
}

// accessNote is the first cell of a note row of the access worksheet: no
// integration's id (a policy id has no parentheses).
const accessNote = "(note)"

// accessNotes appends to the access worksheet out, of width columns, one
// row for each thing that makes its counts and last uses less than the
// period's: the period not over, what the store does not hold of it
// (incomplete) and a store not verified or failing its checks. Before,
// the worksheet said none of them, and a reviewer kept or revoked an
// integration on "0 privileged requests" counted from six weeks of a
// quarter, or from a store nobody checked, and signed it approved.
func (b *builder) accessNotes(out []byte, width int) []byte {
	var notes []string
	if note := b.partialNote(); note != "" {
		notes = append(notes, strings.NewReplacer("<strong>", "", "</strong>", "").Replace(note))
	}
	notes = append(notes, b.incomplete()...)
	notes = append(notes, b.integrityNote()...)
	if len(notes) == 0 {
		return out
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for _, n := range notes {
		row := make([]string, width)
		row[0], row[1] = accessNote, n
		w.Write(csvCells(row...))
	}
	w.Flush()
	return append(out, buf.Bytes()...)
}

// integrityNote says, for the access worksheet, that the store it counts
// from was not verified, or failed its checks; nil when it verified.
func (b *builder) integrityNote() []string {
	if b.cfg.VerifyKey == nil {
		const n = "NOT VERIFIED: no collector key was given (--signing-key or --public-key): the counts come from a store nobody checked; `review start logs` with the key holds the integrity proof."
		b.warn("%s", n)
		return []string{n}
	}
	rep, err := b.verified()
	var out []string
	switch {
	case err != nil:
		out = append(out, fmt.Sprintf("NOT VERIFIED: %v", err))
	case !rep.OK():
		out = append(out, fmt.Sprintf("FAILED: the store's integrity proof found %d problems (`review start logs` lists them): these counts rest on a store that does not verify.", len(rep.Problems)))
	}
	if b.leftOut > 0 {
		out = append(out, fmt.Sprintf("%d entries of the store failed their own checks and are left out of these counts.", b.leftOut))
	}
	for _, n := range out {
		b.warn("%s", n)
	}
	return out
}

// worksheetMark opens the first line of every worksheet (WorksheetMark).
const worksheetMark = "Portcullis review worksheet:"

// WorksheetMark is the first line of the worksheet of a review of kind
// over p: "Portcullis review worksheet: access review of 2026-Q2 from
// 2026-04-01T00:00:00Z to 2026-07-01T00:00:00Z" (to exclusive). It is
// words without a comma or a quote: a paragraph of its own in Markdown,
// and in the access CSV one text cell a spreadsheet keeps as it is (no
// number, date or formula of it), above the header row.
func WorksheetMark(kind string, p Period) string {
	return fmt.Sprintf("%s %s review of %s from %s to %s", worksheetMark, kind, p.Name,
		p.From.UTC().Format(time.RFC3339), p.To.UTC().Format(time.RFC3339))
}

// ErrNoWorksheetMark is WorksheetReview's error for a file whose first
// line is not a worksheet's mark.
var ErrNoWorksheetMark = errors.New("its first line is not \"" + worksheetMark + " KIND review of PERIOD from TIME to TIME\"")

// WorksheetReview reads the kind and period of a worksheet from its first
// line (WorksheetMark), as review start wrote it or a spreadsheet saved it
// again: a byte order mark, a CR before the LF, the cell quoted and the
// empty cells after it are allowed.
func WorksheetReview(ws []byte) (kind string, p Period, err error) {
	line, _, _ := bytes.Cut(bytes.TrimPrefix(ws, []byte("\ufeff")), []byte("\n"))
	s := strings.TrimRight(string(line), "\r,;\t ")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	rest, ok := strings.CutPrefix(s, worksheetMark+" ")
	f := strings.Split(rest, " ")
	if !ok || strings.IndexFunc(rest, func(c rune) bool { return !strconv.IsPrint(c) }) >= 0 || len(f) != 8 || f[1] != "review" || f[2] != "of" || f[4] != "from" || f[6] != "to" {
		return "", Period{}, ErrNoWorksheetMark
	}
	from, ferr := time.Parse(time.RFC3339, f[5])
	to, terr := time.Parse(time.RFC3339, f[7])
	if ferr != nil || terr != nil {
		return "", Period{}, ErrNoWorksheetMark
	}
	return f[0], Period{Name: f[3], From: from.UTC(), To: to.UTC()}, nil
}

// reviewRecords writes the review sign-offs and evidence approvals of the
// period from the lifecycle events the collector stored: those signed in
// the period, and the sign-offs of the period signed after it ends (a
// period is reviewed once it is over).
func (b *builder) reviewRecords() ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"time", "action", "target", "reviewer", "decision", "note", "ticket", "worksheet_sha256", "etcd_revision", "unverified"})
	for i := range b.reviews {
		ev := &b.reviews[i]
		d := eventDetails(ev.Details)
		decision := d["decision"]
		if decision == "" {
			decision = d["status"]
		}
		w.Write(csvCells(rfc(ev.Time), ev.Action, ev.Target, ev.Actor, decision, ev.Reason, ev.Ticket,
			strings.TrimSpace(d["worksheet_sha256"]+d["sha256"]), strconv.FormatInt(ev.Revision, 10), ev.Unverified))
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

// reviewsSigned counts the reviews of the period approved, and the
// approved sign-offs signed in it about another period (which do not
// count), and reports the kinds whose approved reviews together cover the
// whole period. The last sign-off of a review (its kind and the period it
// names) stands: an approval followed by changes-required is withdrawn.
// A review whose last sign-off the collector stored unverified (its etcd
// key rewritten after it was written) is not counted approved.
//
// An approval counts for the days it names, not for every period it
// touches: before, the sign-off of a one-day range answered the quarter's
// question Yes (TestReviewSignOffMustCoverThePeriod). Monthly reviews of
// one kind together cover their quarter.
func (b *builder) reviewsSigned() (sc signedReviews) {
	last := map[string]*collector.Event{}
	var order []string
	for i := range b.reviews {
		ev := &b.reviews[i]
		if ev.Action != ActionReviewSign {
			continue
		}
		if !reviews(ev, b.cfg.Period) {
			if eventDetails(ev.Details)["decision"] == "approved" {
				sc.other++
			}
			continue
		}
		named, _ := reviewedPeriod(ev)
		k := eventDetails(ev.Details)["kind"] + " " + named.From.Format(time.RFC3339) + " " + named.To.Format(time.RFC3339)
		if prev := last[k]; prev == nil {
			order = append(order, k)
		} else if ev.Time.Before(prev.Time) {
			continue
		}
		last[k] = ev
	}
	p := b.cfg.Period
	spans := map[string][]Period{} // the approved reviews' days in p, by kind
	for _, k := range order {
		ev := last[k]
		if ev.Unverified != "" || eventDetails(ev.Details)["decision"] != "approved" {
			continue
		}
		sc.about++
		named, _ := reviewedPeriod(ev)
		kind := eventDetails(ev.Details)["kind"]
		spans[kind] = append(spans[kind], Period{From: maxTime(named.From, p.From), To: minTime(named.To, p.To)})
	}
	for kind, s := range spans {
		covered := coveredPart(s, p)
		if covered == p.To.Sub(p.From) {
			sc.whole = append(sc.whole, kind)
		}
		sc.covered = max(sc.covered, covered)
	}
	sort.Strings(sc.whole)
	return sc
}

// signedReviews is what reviewsSigned found for the pack's period.
type signedReviews struct {
	about, other int           // approved reviews of the period; approved ones signed in it for another
	whole        []string      // the kinds whose approved reviews cover the whole period
	covered      time.Duration // the most of the period one kind's approved reviews cover
}

// coveredPart returns how much of p the spans (each within p) cover
// together.
func coveredPart(spans []Period, p Period) time.Duration {
	sort.Slice(spans, func(i, j int) bool { return spans[i].From.Before(spans[j].From) })
	var total time.Duration
	end := p.From
	for _, s := range spans {
		from := maxTime(s.From, end)
		if s.To.After(from) {
			total += s.To.Sub(from)
			end = s.To
		}
	}
	return total
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
