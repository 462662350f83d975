package evidence

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// privilegedScopes returns the names of the privileged scopes.
func (b *builder) privilegedScopes() map[string]bool {
	m := map[string]bool{}
	for _, s := range b.doc.Scopes {
		if s.Privileged {
			m[s.Name] = true
		}
	}
	return m
}

// privilegedRoutes returns "METHOD template" of every route in a
// privileged class or requiring a privileged scope.
func (b *builder) privilegedRoutes() map[string]bool {
	kind := map[string]string{}
	for _, c := range b.doc.Classes {
		kind[c.Name] = c.Kind
	}
	priv, m := b.privilegedScopes(), map[string]bool{}
	for _, r := range b.doc.Routes {
		if kind[r.Class] == "privileged" || slices.ContainsFunc(r.Scopes, func(s string) bool { return priv[s] }) {
			m[r.Method+" "+r.Path] = true
		}
	}
	return m
}

// privilegedAccess writes each integration holding a privileged scope with
// its privileged requests of the period and the last one: when, with which
// key, from where (the input to the quarterly access review).
func (b *builder) privilegedAccess() ([]byte, error) {
	priv := b.privilegedScopes()
	uses := b.tally.priv
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"integration", "owner", "tenant", "privileged_scopes", "privileged_requests", "last_use", "last_key", "last_route", "last_source_ip", "review_decision"})
	for _, c := range b.doc.Clients {
		var held []string
		for _, s := range c.Scopes {
			if priv[s] {
				held = append(held, s)
			}
		}
		if len(held) == 0 {
			continue
		}
		row := []string{c.ID, c.Owner, c.Tenant, strings.Join(held, " "), "0", "", "", "", "", ""}
		if u := uses[c.ID]; u != nil {
			row[4], row[5], row[6], row[7], row[8] = strconv.FormatInt(u.n, 10), rfc(u.last.Time), u.last.KeyID, u.last.Method+" "+u.last.Route, u.last.SourceIP
		}
		w.Write(csvCells(row...))
	}
	if u := uses[notInPolicy]; u != nil {
		// No owner to name: the owner column says what the row counts, and
		// the review decision is the reviewer's, as on every row.
		w.Write(csvCells(notInPolicy, "none: "+notInPolicyFinding, "", "", strconv.FormatInt(u.n, 10), rfc(u.last.Time), u.last.KeyID,
			u.last.Method+" "+u.last.Route, u.last.SourceIP, ""))
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// answer is one checklist question answered from facts.
type answer struct {
	question string
	yes      bool
	fact     string
	file     string // Area-Name.ext of the file that proves it
	// trail: the answer rests on the trail's records, events, alerts or
	// sign-offs, not on the policy alone (fromTrail, fromPolicy).
	trail bool
}

// What an answer rests on (answer.trail).
const (
	fromPolicy = false
	fromTrail  = true
)

// yesNo is answer a's cell. A Yes resting on the trail (trail) is "Not
// shown" when the trail is known not to hold the whole period, or not to
// be the collector's (doubt, from trailDoubt): before, such a pack put
// INCOMPLETE above the table and still answered the rows "Yes", and an
// auditor reading a row read a Yes made from six weeks of a quarter. A
// No stays a No: missing records cannot have made it one. In a pack
// made before its period ends (so, the time the pack was made) every Yes
// is "Yes so far": the rest of the period can still make it a No.
// A Yes resting on a store checked against no head kept outside it
// (rollback) says so: a copy restored from before its newest entries
// verifies as intact, and the entry it lacks may be the one that makes
// the answer No.
func (a *answer) yesNo(doubt, rollback string, so time.Time) string {
	var why []string
	switch {
	case !a.yes:
		return "No"
	case a.trail && doubt != "":
		return "Not shown (" + doubt + "); Yes only for what the store holds of the period"
	case !so.IsZero():
		why = append(why, "period not ended: to "+rfc(so))
	}
	if a.trail && rollback != "" {
		why = append(why, rollback)
	}
	switch {
	case !so.IsZero():
		return "Yes so far (" + strings.Join(why, "; ") + ")"
	case len(why) > 0:
		return "Yes (" + strings.Join(why, "; ") + ")"
	}
	return "Yes"
}

// rollbackDoubt says, for the trail's answers, that the store was checked
// against no head kept outside it; "" when it was.
func (b *builder) rollbackDoubt() string {
	if d := b.rollbackNote(); d != "" {
		return d + ": see " + FileName("APILogging", "RetentionSettings", b.cfg.Period.Name, "md")
	}
	return ""
}

// rollbackNote is rollbackDoubt without the file it names.
func (b *builder) rollbackNote() string {
	if b.cfg.VerifyKey == nil || b.cfg.Anchor.given() {
		return ""
	}
	return "ROLLBACK NOT CHECKED, no published head"
}

// trailDoubt says, for the checklist's answers, why the trail is not
// evidence of the whole period, naming the file that says more; ""
// when nothing does (trailNotes).
func (b *builder) trailDoubt() string {
	if notes := b.trailNotes(); len(notes) > 0 {
		return strings.Join(notes, "; ") + ": see " + FileName("APILogging", "RetentionSettings", b.cfg.Period.Name, "md")
	}
	return ""
}

// trailNotes are each reason the trail is not evidence of the whole
// period: the store holds part of it (incomplete), its integrity proof
// failed or was not made, or entries were left out as failing their
// checks. All of them, not the first: a pack both incomplete and failing
// its proof said only "incomplete" where its Period Covered was read.
func (b *builder) trailNotes() []string {
	var notes []string
	if len(b.incomplete()) > 0 {
		notes = append(notes, "incomplete")
	}
	if b.cfg.VerifyKey == nil {
		// Nothing checked that the store is the collector's: anyone who
		// can write its folder could have written the answers' facts.
		return append(notes, "the store was NOT VERIFIED, no collector key was given")
	}
	rep, err := b.verified()
	switch {
	case err != nil:
		notes = append(notes, "the store was NOT VERIFIED")
	case rep != nil && !rep.OK() || b.leftOut > 0:
		notes = append(notes, "the store failed its integrity proof")
	}
	return notes
}

// checklist writes the ISO 27017 API evidence checklist, each answer
// Yes/No from facts with the file that proves it.
func (b *builder) checklist() ([]byte, error) {
	var w bytes.Buffer
	fmt.Fprintf(&w, "# ISO 27017 API evidence checklist, %s\n\n", b.cfg.Period.Name)
	if note := b.partialNote(); note != "" {
		fmt.Fprintf(&w, "%s\n\n", note)
	}
	for _, t := range b.incomplete() {
		fmt.Fprintf(&w, "%s\n\n", t)
	}
	w.WriteString("| question | answer | fact | evidence |\n|---|---|---|---|\n")
	doubt := b.trailDoubt()
	for _, a := range b.answers() {
		yn := a.yesNo(doubt, b.rollbackDoubt(), b.partial)
		stem, ext, _ := strings.Cut(a.file, ".")
		area, name, _ := strings.Cut(stem, "-")
		fn := FileName(area, name, b.cfg.Period.Name, ext)
		fmt.Fprintf(&w, "| %s | %s | %s | [%s](%s) |\n", a.question, yn, a.fact, fn, fn)
	}
	return w.Bytes(), nil
}

func (b *builder) answers() []answer {
	d := b.doc
	unscoped := 0
	for _, c := range d.Clients {
		if len(c.Scopes) == 0 {
			unscoped++
		}
	}
	var kc keyCreations
	privAt := b.privilegedClientAt()
	samples, _ := b.approvals()
	enforced := 0
	var revoked []int
	for i := range b.events {
		ev := &b.events[i]
		switch ev.Action {
		case etcdadmin.ActionKeyCreate, etcdadmin.ActionKeyRotate:
			b.countKeyEvent(&kc, ev, privAt, samples) // keyapproval.go
		case etcdadmin.ActionKeyRevoke, etcdadmin.ActionClientSuspend:
			revoked = append(revoked, i)
			if !b.firstDenial(i).IsZero() {
				enforced++
			}
		}
	}
	unmade, note := b.keysNeverMade() // keyorigin.go
	kc.addUnmade(unmade, mdBare(note), b.tally.keysUsedOver)
	// A denial after a change shows that some sidecar enforced it, not
	// that every one did: a live sidecar that never applied it (NOT
	// ACKNOWLEDGED in the revocation file) still serves the key, and the
	// answer was Yes all the same.
	revokes := len(revoked)
	prop, err := b.propagated(revoked)
	if err != nil {
		prop.note = err.Error()
	}
	// The note quotes what etcd and its records said (an error, a pod's
	// name): it goes into a table cell, so it is escaped as one.
	prop.note = mdBare(prop.note)
	servedFact, servedAfter := b.revokedAllowed()
	if servedFact != "" {
		b.warn("%s", servedFact)
		servedFact = "; " + servedFact
	}
	// The limits, bulk controls and spike rule are controls the period
	// had in force, not the policy at its end alone: a rule pushed on the
	// last day answered a quarter Yes. Each must hold in every revision
	// in force during the period; the fact names those it does not.
	limited, limitsFact := b.everyRevision(limitsDocumented)
	bulk, bulkLimited := bulkClasses(d)
	bulkOK, bulkFact := b.everyRevision(func(d *policy.Document) bool { n, l := bulkClasses(d); return n > 0 && n == l })
	spikeRule, spikeFact := b.everyRevision(func(d *policy.Document) bool {
		return slices.ContainsFunc(d.Detection, func(r policyDetection) bool { return r.Kind == "rate_limit_spike" })
	})
	spikeAlerts := 0
	for i := range b.alerts {
		if b.alerts[i].Kind == "rate_limit_spike" {
			spikeAlerts++
		}
	}
	withTicket := 0
	for i := range b.alerts {
		if len(b.alerts[i].Tickets) > 0 {
			withTicket++
		}
	}
	// Owned means every file of the pack has an owner: one owner given
	// (Auth) left the other areas' files "unassigned" in the manifest
	// under an answer of Yes, "owners given: true".
	unowned := b.unownedAreas()
	owned := len(unowned) == 0
	owners := "every area's files have one"
	if !owned {
		owners = "NONE for " + strings.Join(unowned, ", ") + " (their files are unassigned in the manifest)"
	}
	weak := b.weakeningPushes()
	weakOK, unapproved, older, unseen, unbound := 0, []string{}, []string{}, []string{}, []string{}
	for i := range weak {
		// The actor is whatever the push's writer named: quoted and
		// escaped as every table cell is, so a | in it adds no cell.
		named := fmt.Sprintf("revision %d at %s by %s", weak[i].entry.Revision, rfc(weak[i].entry.Time), mdCell(weak[i].entry.Actor))
		switch {
		case weak[i].flag() == "":
			weakOK++
		case weak[i].older:
			older = append(older, named)
		case weak[i].unseen() != "":
			unseen = append(unseen, named+" ("+weak[i].unseen()+")")
		case weak[i].unbound && weak[i].spent && !weak[i].self:
			unbound = append(unbound, named+" (approval "+mdCell(weak[i].approval)+")")
		default:
			unapproved = append(unapproved, named)
		}
	}
	weakFact := fmt.Sprintf("%d policy pushes in period weakened the two-person controls (%s), %d with a second person's approval spent in the same etcd transaction", len(weak), policy.WeakeningKindNames(), weakOK)
	if len(unapproved) > 0 {
		weakFact += "; WITHOUT one: " + strings.Join(unapproved, ", ")
	}
	// A push whose second person's approval was spent but is flagged
	// for what its approver did not see had one: under "WITHOUT one" it
	// sent the reviewer to look for an approval that is in the trail
	// (TestChecklistNamesAFlaggedPushWithItsApprovalApart).
	if len(unseen) > 0 {
		weakFact += "; with one spent, but flagged as what its approver did not see (see the token lifecycle log): " + strings.Join(unseen, ", ")
	}
	// An approval asked by a CLI before the weakening list was bound is
	// no mismatch: nothing says which list its approver read.
	if len(unbound) > 0 {
		weakFact += "; with one spent, but asked before the list was bound (its request names no weakening list digest: an older CLI's), so check its approver read what the push weakens: " + strings.Join(unbound, ", ")
	}
	if len(older) > 0 {
		weakFact += fmt.Sprintf("; without one, made by a release whose weakening rules (before %d) did not hold their kinds to an approval, so check they were reviewed: %s",
			policy.WeakeningRules, strings.Join(older, ", "))
	}
	pushesRead := b.pushHistoryRead()
	if !pushesRead {
		weakFact = "not shown: the pack was built from a policy file (--policy), without etcd's push history, so no push of the period was compared with the policy before it"
	}
	// A policy, history entry or approval record written by hand was
	// compared with nothing and spent no approval (handwritten.go).
	hand := b.handWrites()
	weakFact += handFact(hand.policy) + uncheckedFact(hand.uncheckedPolicy)
	sc := b.reviewsSigned()
	otherReviews := ""
	if sc.other > 0 {
		otherReviews = fmt.Sprintf(" (and %d signed in it for another period, not counted)", sc.other)
	}
	coverage := "no kind of review covers the whole period"
	if len(sc.whole) > 0 {
		// A review's kind is the event's to name: escaped as a cell.
		kinds := make([]string, len(sc.whole))
		for i, k := range sc.whole {
			kinds[i] = mdBare(k)
		}
		coverage = "the whole period reviewed: " + strings.Join(kinds, ", ")
	} else if sc.about > 0 {
		days := func(d time.Duration) string { return strconv.FormatFloat(d.Hours()/24, 'f', -1, 64) }
		coverage += fmt.Sprintf(" (at most %s of its %s days)", days(sc.covered), days(b.cfg.Period.To.Sub(b.cfg.Period.From)))
	}
	return []answer{
		{"Is OAuth/scoped key usage documented?", len(d.Scopes) > 0 && unscoped == 0,
			fmt.Sprintf("%d scopes, %d integrations, %d without scopes", len(d.Scopes), len(d.Clients), unscoped), "APIAuth-AuthenticationStandard.md", fromPolicy},
		{"Are privileged scopes separated?", len(b.privilegedScopes()) > 0,
			fmt.Sprintf("%d privileged scopes, %d privileged routes", len(b.privilegedScopes()), len(b.privilegedRoutes())), "APIPrivileged-PrivilegedAccess.csv", fromPolicy},
		{"Is token creation approved and logged?", kc.ok() && len(hand.keys) == 0, kc.fact() + handFact(hand.keys), "APIAuth-TokenLifecycleLog.csv", fromTrail},
		{"Do changes that weaken the two-person rule take a second person?", pushesRead && weakOK == len(weak) && len(hand.policy) == 0, weakFact, "APIAuth-TokenLifecycleLog.csv", fromTrail},
		{"Can tokens be rotated and revoked quickly?", revokes > 0 && enforced == revokes && prop.note == "" && prop.unacked == 0 && len(hand.revocations) == 0 && servedAfter == 0,
			fmt.Sprintf("%d revocations/suspensions in period, %d with a denial after them; %s", revokes, enforced, prop.fact()) + handFact(hand.revocations) + uncheckedFact(hand.uncheckedRevocations) + servedFact, "APIAuth-RevocationRecords.csv", fromTrail},
		{"Are limits documented by token, tenant and endpoint class?", limited,
			"every tenant and client with a limit, and a class limit: " + limitsFact, "APIRateLimits-GatewayConfigExport.json", fromPolicy},
		{"Are bulk exports controlled?", bulkOK,
			fmt.Sprintf("%d bulk classes at the period's end, %d with a rate or concurrency limit; every bulk class limited: %s", bulk, bulkLimited, bulkFact), "APIRateLimits-GatewayConfigExport.json", fromPolicy},
		{"Are 429 spikes monitored?", spikeRule,
			fmt.Sprintf("rate_limit_spike rule in the policy: %s; %d rate_limit_spike alerts in period (the trail shows the collector ran the rule only by its alerts)", spikeFact, spikeAlerts), "APIRateLimits-ThrottlingSample.csv", fromPolicy},
		{"Are abuse alerts linked to tickets?", len(b.alerts) > 0 && withTicket == len(b.alerts),
			fmt.Sprintf("%d alerts in period, %d with a ticket", len(b.alerts), withTicket), "APIAbuse-AlertToTicketSample.md", fromTrail},
		{"Is evidence mapped to controls, owned, reviewed and approved?", owned && len(sc.whole) > 0,
			fmt.Sprintf("mapped: yes (manifest); owners: %s; review sign-offs approved for the period: %d, %s%s", owners, sc.about, coverage, otherReviews), "APIGovernance-ReviewRecords.csv", fromTrail},
	}
}

// noneToShow says why a question with nothing to count in the period is
// answered No: a Yes needs evidence, as the other answers do.
func noneToShow(n int) string {
	if n == 0 {
		return ": none to show"
	}
	return ""
}

// limitsDocumented reports whether every tenant and client of d has a
// limit and some class has one.
func limitsDocumented(d *policy.Document) bool {
	for _, t := range d.Tenants {
		if t.Limit == nil {
			return false
		}
	}
	for _, c := range d.Clients {
		if c.Limit == nil {
			return false
		}
	}
	return slices.ContainsFunc(d.Classes, func(c policyClass) bool { return c.Limit != nil })
}

// bulkClasses counts d's bulk classes and those with a rate or
// concurrency limit.
func bulkClasses(d *policy.Document) (bulk, limited int) {
	for _, c := range d.Classes {
		if c.Kind == "bulk" {
			bulk++
			if c.Limit != nil || c.Concurrency != nil {
				limited++
			}
		}
	}
	return bulk, limited
}

// everyRevision reports whether ok holds for every policy revision in
// force during the period, and says so: "yes, in the N revisions in
// force", or "NO in" the revisions it does not hold for (or that do not
// load), each with its span.
func (b *builder) everyRevision(ok func(*policy.Document) bool) (bool, string) {
	spans := b.periodHistory()
	var not []string
	for _, s := range spans {
		doc, err := loadDoc(s.entry)
		if err == nil && ok(doc) {
			continue
		}
		from := s.entry.Time
		if from.Before(b.cfg.Period.From) {
			from = b.cfg.Period.From
		}
		not = append(not, fmt.Sprintf("revision %d (in force %s to %s)", s.entry.Revision, rfc(from), rfc(s.until)))
	}
	switch {
	case len(spans) == 0:
		return false, "NO: no policy revision in force during the period"
	case len(not) > 0:
		return false, fmt.Sprintf("NO in %d of the %d revisions in force during the period: %s", len(not), len(spans), strings.Join(not, ", "))
	}
	return true, fmt.Sprintf("yes, in the %d revisions in force during the period", len(spans))
}

// unownedAreas returns, sorted, the API control areas of the pack's files
// (the control mapping's rows, one a file and the index) that
// --owner-map gives no owner.
func (b *builder) unownedAreas() []string {
	var out []string
	for _, c := range mapping {
		if b.cfg.Owners[c.area] == "" && !slices.Contains(out, c.area) {
			out = append(out, c.area)
		}
	}
	slices.Sort(out)
	return out
}
