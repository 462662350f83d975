package evidence

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// sampleSize is how many records a sample file holds at most.
const sampleSize = 20

func rfc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// authStandard writes the authentication standard from the policy in force.
func (b *builder) authStandard() ([]byte, error) {
	var w bytes.Buffer
	d, e := b.doc, b.inForce
	fmt.Fprintf(&w, "# API authentication standard, %s\n\n", b.cfg.Period.Name)
	fmt.Fprintf(&w, "Generated from the policy in force at the end of the period: revision %d, SHA-256 %s, pushed %s by %s",
		e.Revision, mdText(e.Digest), rfc(e.Time), mdText(e.Actor))
	if e.Ticket != "" {
		fmt.Fprintf(&w, " (ticket %s)", mdText(e.Ticket))
	}
	w.WriteString(".\n\n## Methods accepted\n\n")
	fmt.Fprintf(&w, "- API keys in the `X-API-Key` header, formatted `%s<id>_<secret>`; the policy and etcd hold the SHA-256 of the secret only.\n", policy.KeyPrefix)
	w.WriteString("- JWTs in `Authorization: Bearer`; never a credential in the query string.\n")
	if len(d.Issuers) > 0 {
		w.WriteString("- JWT bearer tokens from these issuers:\n\n| issuer | algorithms | audiences | max lifetime | tenants it may speak for |\n|---|---|---|---|---|\n")
		for _, is := range d.Issuers {
			mdRow(&w, is.Issuer, strings.Join(is.Algorithms, ", "), strings.Join(is.Audiences, ", "), dash(is.MaxLifetime),
				strings.Join(is.Tenants, ", "))
		}
	}
	w.WriteString("\n## API keys in the policy\n\n| key | client | not before | not after | created by | ticket | revoked |\n|---|---|---|---|---|---|---|\n")
	for _, k := range d.Keys {
		mdRow(&w, k.ID, k.Client, dash(k.NotBefore), dash(k.NotAfter), dash(k.CreatedBy), dash(k.Ticket), strconv.FormatBool(k.Revoked))
	}
	w.WriteString("\nKeys without an expiry (not after): ")
	w.WriteString(dash(strings.Join(noExpiry(b), ", ")))
	w.WriteString(b.etcdKeysTable())
	w.WriteString("\n\n## Rotation and revocation\n\n`portcullis keys rotate` and `portcullis keys revoke` write the change with its lifecycle event in one etcd transaction; sidecars apply it from their watch. Revocations in the period: see the RevocationRecords file.\n")
	w.WriteString("\n## Privileged endpoint classes\n\n| class | kind | auth methods | max token age | allowed networks |\n|---|---|---|---|---|\n")
	for _, c := range d.Classes {
		if c.Kind != "privileged" {
			continue
		}
		mdRow(&w, c.Name, c.Kind, dash(strings.Join(c.AuthMethods, ", ")), dash(c.MaxTokenAge), dash(strings.Join(c.AllowCIDRs, ", ")))
	}
	return w.Bytes(), nil
}

// etcdKeysTable lists the keys `keys create` made in etcd, which the
// policy document does not hold, as the trail's events rebuild them
// (keyAges): before, this file listed the document's keys alone, and a
// key made with the CLI, live and without an expiry, was nowhere in it.
func (b *builder) etcdKeysTable() string {
	inDoc := map[string]bool{}
	for _, k := range b.doc.Keys {
		inDoc[k.ID] = true
	}
	var w bytes.Buffer
	w.WriteString("\n\n## API keys made with `keys create` (from the trail's lifecycle events)\n\n")
	w.WriteString("| key | created | created by | ticket | not after | ended |\n|---|---|---|---|---|---|\n")
	n := 0
	for _, k := range b.keyAges() {
		if inDoc[k.spec.ID] {
			continue
		}
		ended := "-"
		switch {
		case k.revoked != nil:
			ended = "revoked " + rfc(k.revoked.Time)
		case k.rotated != nil:
			ended = "rotated " + rfc(k.rotated.Time)
		}
		notAfter := k.spec.NotAfter
		if notAfter == "" {
			notAfter = "none (no expiry)"
		}
		mdRow(&w, k.spec.ID, dash(k.spec.CreatedAt), dash(k.spec.CreatedBy), dash(k.spec.Ticket), notAfter, ended)
		n++
	}
	if n == 0 {
		w.WriteString("\nNone: no key.create or key.rotate event of the trail names a key live in the period that the policy does not hold.\n")
	}
	return w.String()
}

func noExpiry(b *builder) []string {
	var out []string
	for _, k := range b.doc.Keys {
		if k.NotAfter == "" && !k.Revoked {
			out = append(out, k.ID)
		}
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// mdText makes text from outside (an Alertmanager alert's name and
// fingerprint, a record's fields) one line of Markdown that renders as the
// text (alert.MarkdownText): control, line-separator and bidirectional
// characters become spaces, so it cannot start a line of its own, and the
// characters that make links, images, HTML, emphasis and mentions are
// escaped (none a credential holds, so the scan of the pack's files still
// finds one: TestEscapedTextStillScanned).
func mdText(s string) string { return alert.MarkdownText(s) }

// mdRow writes cells as one row of a Markdown table, each mdText with its
// "|" escaped too, so a text (a key's ticket "X | true") cannot add a cell
// and shift the ones after it (a live key shown revoked).
func mdRow(w *bytes.Buffer, cells ...string) {
	for _, c := range cells {
		w.WriteString("| ")
		w.WriteString(strings.ReplaceAll(mdText(c), "|", `\|`))
		w.WriteString(" ")
	}
	w.WriteString("|\n")
}

// scopeMatrix writes one row per scope granted to an integration, with the
// least-privilege finding over the period.
func (b *builder) scopeMatrix() ([]byte, error) {
	priv := map[string]bool{}
	for _, s := range b.doc.Scopes {
		priv[s.Name] = s.Privileged
	}
	u := b.tally
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"integration", "owner", "tenant", "scope", "privileged", "requests_with_scope", "integration_requests", "last_used", "finding"})
	for _, c := range b.doc.Clients {
		for _, s := range c.Scopes {
			n := u.scope[[2]string{c.ID, s}]
			w.Write(csvCells(c.ID, c.Owner, c.Tenant, s, strconv.FormatBool(priv[s]), strconv.FormatInt(n, 10),
				strconv.FormatInt(u.client[c.ID], 10), rfc(u.last[c.ID]), finding(u.client[c.ID], n, priv[s])))
		}
	}
	if n := u.client[notInPolicy]; n > 0 {
		w.Write(csvCells(notInPolicy, "", "", "", "", "", strconv.FormatInt(n, 10), rfc(u.last[notInPolicy]), notInPolicyFinding))
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// notInPolicyFinding is the finding of the row that counts the allowed
// requests whose records name an integration no policy of the period
// holds.
const notInPolicyFinding = "allowed requests naming integrations no policy in force during the period holds, counted together"

// finding is the least-privilege finding of one granted scope.
func finding(clientUses, scopeUses int64, privileged bool) string {
	var f []string
	switch {
	case clientUses == 0:
		f = append(f, "integration unused in period")
	case scopeUses == 0:
		f = append(f, "scope granted but never used in period")
	}
	if privileged {
		f = append(f, "privileged scope held")
	}
	return strings.Join(f, "; ")
}

// changeTime is when ev's change was made: the time its writer put in
// the event (ClaimedTime) when that is earlier than when the collector
// read it (Time), since a sidecar can apply the change, and deny, before
// the collector reads it (TestEvidencePackEndToEnd).
func changeTime(ev *collector.Event) time.Time {
	if !ev.ClaimedTime.IsZero() && ev.ClaimedTime.Before(ev.Time) {
		return ev.ClaimedTime
	}
	return ev.Time
}

// deniedAfter reports whether r is a denial of the key or client ev
// revoked or suspended, after ev: key_revoked of the key (its own secret
// refused as revoked; a wrong secret under its id, unauthenticated, is
// refused by a sidecar that never applied the revocation as well, and
// anyone can send one), or suspended of the client.
func deniedAfter(ev *collector.Event, r *collector.StoredRecord) bool {
	if !r.Time.After(changeTime(ev)) {
		return false
	}
	switch ev.Action {
	case etcdadmin.ActionKeyRevoke:
		return r.Decision == "key_revoked" && r.KeyID == ev.Target
	case etcdadmin.ActionClientSuspend:
		return r.Decision == "suspended" && r.Client == ev.Target
	}
	return false
}

// revokeGrace is how long after a key's revocation a request it
// authenticated may still be allowed: the time a sidecar takes to apply
// the change from its watch (seconds), a request begun before it, and
// the sidecar's clock, which dates the record, against the collector's,
// which dates the event.
const revokeGrace = time.Minute

// revokedAllowed says which keys revoked in the period authenticated a
// request a sidecar allowed longer than revokeGrace after the revocation:
// a sidecar that did not enforce it, whether or not it is live when the
// pack is made (the member records checked are of those live then only).
// Before, the checklist answered "revoked quickly" Yes with such a record
// in the store (TestRevokedKeyAllowedAfterAnswersNo). The record is its
// sender's to write, so a forged one makes the answer No, never Yes. n
// counts the revocations not shown enforced: allowed after, or not
// checked (their key past the keys followed).
func (b *builder) revokedAllowed() (text string, n int) {
	var parts []string
	unchecked := 0
	for i := range b.events {
		ev := &b.events[i]
		if ev.Action != etcdadmin.ActionKeyRevoke {
			continue
		}
		u, ok := b.tally.lastAllowed[ev.Target]
		switch {
		case !ok && b.tally.lastAllowedOver > 0:
			unchecked++
		case ok && u.at.After(changeTime(ev).Add(revokeGrace)):
			parts = append(parts, fmt.Sprintf("%s revoked %s, allowed last %s by %s", mdCell(ev.Target), rfc(changeTime(ev)), rfc(u.at), mdCell(u.by.String())))
		}
	}
	if len(parts) > 0 {
		text = fmt.Sprintf("ALLOWED AFTER REVOCATION: %d revoked key(s) authenticated allowed requests after their revocation: %s: a sidecar served the key after the change (one gone before the pack has no member record to show it did not apply it)", len(parts), firstTen(parts))
	}
	if unchecked > 0 {
		if text != "" {
			text += "; "
		}
		text += fmt.Sprintf("ALLOWED AFTER REVOCATION NOT CHECKED for %d revoked key(s): the records named more than %d keys, and theirs were past them", unchecked, maxKeysUsed)
	}
	return text, len(parts) + unchecked
}

// firstDenial is the earliest denial after events[i] of the key or
// client it names, by any sidecar: the proof that the change was enforced.
func (b *builder) firstDenial(i int) time.Time { return b.tally.first[i] }

// enforcedBy returns, per sidecar (its pod and the batch's sender), the
// first denial after events[i], as "pod (sender)=time", or "sender=time"
// for a sender that named no pod, sorted.
func (b *builder) enforcedBy(i int) string {
	first := b.tally.firstBy[i]
	out := make([]string, 0, len(first))
	for s, t := range first {
		out = append(out, s.String()+"="+rfc(t))
	}
	sort.Strings(out)
	return boundedList(out, maxCellChars, "see the per-sidecar rows below for each live sidecar's own")
}

// maxCellChars is the most characters a spreadsheet cell holds (Excel's
// limit; it cuts a longer cell, or refuses to open the file).
const maxCellChars = 32767

// boundedList joins items with spaces, as many as fit in max characters
// with the note that names how many more there are and where to look
// (see): a change's first denial by sidecar lists up to 1,001 pods, each
// name as long as its sender liked (256 bytes), far past a cell
// (TestRevocationCellFitsASpreadsheet).
func boundedList(items []string, max int, see string) string {
	const reserve = 100 // the note, with its count
	n, size := 0, 0
	for _, it := range items {
		l := utf8.RuneCountInString(it) + 1
		if size+l > max-reserve {
			break
		}
		n, size = n+1, size+l
	}
	s := strings.Join(items[:n], " ")
	if n < len(items) {
		s += fmt.Sprintf(" and %d more (%s)", len(items)-n, see)
	}
	return s
}

// limitExport is one policy revision's rate limits, secrets removed.
type limitExport struct {
	Revision int64          `json:"revision"`
	Digest   string         `json:"digest"`
	From     time.Time      `json:"in_force_from"`
	Until    time.Time      `json:"in_force_until"`
	Actor    string         `json:"pushed_by"`
	Ticket   string         `json:"ticket,omitempty"`
	Tenants  map[string]any `json:"tenants"`
	Clients  map[string]any `json:"clients"`
	Classes  map[string]any `json:"classes"`
	Error    string         `json:"error,omitempty"`
}

// rateLimitExport writes the rate limits of every policy revision in force
// during the period, with its time span and who pushed it. Only limits are
// exported: no key digests, secrets or JWKS.
func (b *builder) rateLimitExport() ([]byte, error) {
	out := struct {
		Period    string        `json:"period"`
		From      time.Time     `json:"from"`
		To        time.Time     `json:"to"`
		Revisions []limitExport `json:"revisions"`
	}{Period: b.cfg.Period.Name, From: b.cfg.Period.From, To: b.cfg.Period.To, Revisions: []limitExport{}}
	for _, s := range b.periodHistory() {
		out.Revisions = append(out.Revisions, exportLimits(s))
	}
	j, err := json.MarshalIndent(out, "", "  ")
	return append(j, '\n'), err
}

func exportLimits(s span) limitExport {
	e := limitExport{Revision: s.entry.Revision, Digest: s.entry.Digest, From: s.entry.Time, Until: s.until,
		Actor: s.entry.Actor, Ticket: s.entry.Ticket, Tenants: map[string]any{}, Clients: map[string]any{}, Classes: map[string]any{}}
	doc, err := loadDoc(s.entry)
	if err != nil {
		e.Error = err.Error()
		return e
	}
	for _, t := range doc.Tenants {
		e.Tenants[t.ID] = t.Limit
	}
	for _, c := range doc.Clients {
		e.Clients[c.ID] = c.Limit
	}
	for _, c := range doc.Classes {
		e.Classes[c.Name] = map[string]any{"kind": c.Kind, "limit": c.Limit, "concurrency": c.Concurrency, "max_body": c.MaxBody}
	}
	return e
}

// allTenants is the tenant of a quiet day's row of the throttling
// sample: no tenant had a denial that day.
const allTenants = "(all tenants)"

// throttlingSample writes the denial counts (401, 403, 413, 429, and
// before_http: client certificates refused at the TLS handshake) per
// tenant per day, the 429s per limit that refused them, then up to
// sampleSize 429 records. The limit column is last, so the columns before
// it stay where readers of older packs find them.
func (b *builder) throttlingSample() ([]byte, error) {
	t := b.tally
	keys := make([]denialKey, 0, len(t.denials))
	for k := range t.denials {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		x, y := keys[i], keys[j]
		return cmp.Or(cmp.Compare(x.day, y.day), cmp.Compare(x.tenant, y.tenant), cmp.Compare(x.status, y.status), cmp.Compare(x.limit, y.limit)) < 0
	})
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"section", "day", "tenant", "status", "count", "time", "client", "method", "route", "decision", "request_id", "source_ip", "share_percent", "limit"})
	// Every day of the period has rows, as the daily chart has a bar
	// group: a day without a denial has one of count 0, where before it
	// had none and the days either side stood side by side.
	days, _ := b.dailyCounts() // index.go
	next := 0
	// upTo writes the counts of the days up to day.
	upTo := func(day string) (n int) {
		for ; next < len(keys) && dayName(keys[next].day) <= day; next++ {
			k := keys[next]
			status := strconv.FormatInt(k.status, 10)
			if k.status == 0 {
				status = collector.StatusBeforeHTTP // refused at the TLS handshake
			}
			w.Write(csvCells("daily_count", dayName(k.day), k.tenant, status, strconv.FormatInt(t.denials[k], 10), "", "", "", "", "", "", "", "", k.limit))
			n++
		}
		return n
	}
	for _, day := range days {
		if upTo(day) == 0 {
			w.Write(csvCells("daily_count", day, allTenants, "any", "0", "", "", "", "", "", "", "", "", ""))
		}
	}
	upTo("9999-12-31") // none left but for a day the chart lacks
	for _, ts := range b.tenantShares() {
		w.Write(csvCells("tenant_share", "", ts.tenant, "", strconv.FormatInt(ts.n, 10), "", "", "", "", "", "", "",
			strconv.FormatFloat(100*float64(ts.n)/float64(ts.total), 'f', 1, 64), ""))
		// The part of the tenant's count whose records came from senders
		// bound to no tenant (the tenant is their claim), as a percentage
		// of the tenant's count; none when every sender was bound.
		if u := t.unbound[ts.tenant]; u > 0 {
			w.Write(csvCells("tenant_share_unbound_senders", "", ts.tenant, "", strconv.FormatInt(u, 10), "", "", "", "", "", "", "",
				strconv.FormatFloat(100*float64(u)/float64(ts.n), 'f', 1, 64), ""))
		}
	}
	for i := range t.sample {
		r := &t.sample[i]
		w.Write(csvCells("sample_429", r.Time.UTC().Format(time.DateOnly), r.Tenant, "429", strconv.FormatInt(requests(r), 10),
			rfc(r.Time), r.Client, r.Method, r.Route, r.Decision, r.RequestID, r.SourceIP, "", limitName(r)))
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// retention writes the retention setting and the integrity proof: the
// result of verifying the store and its signed head.
func (b *builder) retention() ([]byte, error) {
	var w bytes.Buffer
	fmt.Fprintf(&w, "# API logging: retention and integrity, %s\n\n", b.cfg.Period.Name)
	w.WriteString(b.retentionSetting())
	for _, t := range b.incomplete() {
		w.WriteString(t + "\n\n")
	}
	if t := b.tally; t.outsideWindow > 0 {
		fmt.Fprintf(&w, "%d records of the period were stored flagged `time_outside_window`, %d of them received after the period ended: "+
			"each is dated further than the collector's `--record-window` from when it received it (a sender's clock off, a spool replayed late, or a sender "+
			"writing into the period after the fact), and the pack counts it with the period's records. "+
			"`portcullis audit query` over the period lists them, flagged.\n\n", t.outsideWindow, t.late)
		b.warn("%d records of the period were stored flagged time_outside_window, %d of them received after the period ended (named in %s)",
			t.outsideWindow, t.late, FileName("APILogging", "RetentionSettings", b.cfg.Period.Name, "md"))
	}
	w.WriteString("Records name API keys by id and tokens by fingerprint; the CredentialScan file holds the scan of the period's records for credentials.\n\n")
	w.WriteString(b.sendersTable())
	w.WriteString("## Integrity proof (`portcullis audit verify`)\n\n")
	if b.cfg.VerifyKey == nil {
		w.WriteString("NOT VERIFIED: no collector key was given (--signing-key or --public-key).\n")
		return w.Bytes(), nil
	}
	rep, err := b.verified()
	if err != nil {
		fmt.Fprintf(&w, "NOT VERIFIED: %v\n", err)
		return w.Bytes(), nil
	}
	w.WriteString(b.anchorText(rep))
	result := "OK"
	switch {
	case !rep.OK():
		result = fmt.Sprintf("FAILED (%d problems)", len(rep.Problems))
		b.warn("the store's integrity proof FAILED (%d problems, listed in %s)", len(rep.Problems), FileName("APILogging", "RetentionSettings", b.cfg.Period.Name, "md"))
	case !b.cfg.Anchor.given():
		result = "INTACT, ROLLBACK NOT CHECKED (no published head)"
	}
	fmt.Fprintf(&w, "Result: %s\n\n| segments | expired by retention | batches | records | events | head seq | head hash |\n|---|---|---|---|---|---|---|\n| %d | %d | %d | %d | %d | %d | %s |\n",
		result, rep.Segments, rep.Expired, rep.Batches, rep.Records, rep.Events, rep.HeadSeq, rep.HeadHash)
	for _, p := range rep.Problems {
		// A problem's detail can hold text from the store (a forged
		// break entry's reason): one line of Markdown text, never markup
		// (TestPackPrintsVerifyProblemsAsText).
		fmt.Fprintf(&w, "- %s\n", mdText(p.String()))
	}
	if b.leftOut > 0 {
		fmt.Fprintf(&w, "\n%d entries of the store failed their own checks (hash, link, seq or the collector's signature: edited, or written without its key): their records and events are left out of every file of this pack.\n", b.leftOut)
		b.warn("%d entries of the store failed their own checks and are left out of the pack (listed in %s)", b.leftOut, FileName("APILogging", "RetentionSettings", b.cfg.Period.Name, "md"))
	}
	// Read as the store's checks read it, a regular file of at most 1 MiB:
	// a FIFO planted as head.json held the pack in open(2) for good, and a
	// file of gigabytes was read whole (TestPackWithAPlantedHeadFIFO).
	switch head, err := durable.ReadRegularMax(filepath.Join(b.cfg.DataDir, "head.json"), maxHeadBytes); {
	case err == nil:
		// head.json is any store editor's to write (verify then fails
		// it): its text is quoted plain, in a block no line of it closes
		// (TestPackQuotesAPlantedHeadInItsBlock).
		fmt.Fprintf(&w, "\n## Signed head (head.json)\n\n%s", codeBlock("json", alert.PlainText(string(bytes.TrimSpace(head)))))
	case !errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(&w, "\nThe signed head (head.json) is not quoted here: %s.\n", err)
	}
	return w.Bytes(), nil
}

// codeBlock returns text as a Markdown code block of info string info,
// fenced by more backticks than any run of them in text (CommonMark: the
// block ends only at a fence at least as long as the opening one).
func codeBlock(info, text string) string {
	longest, run := 0, 0
	for i := 0; i < len(text); i++ {
		if run = run + 1; text[i] != '`' {
			run = 0
		}
		longest = max(longest, run)
	}
	fence := strings.Repeat("`", max(3, longest+1))
	return fence + info + "\n" + text + "\n" + fence + "\n"
}

// maxHeadBytes caps the head.json the retention file quotes, as the
// store's checks cap it.
const maxHeadBytes = 1 << 20

// given reports whether a head kept outside the data directory was given.
func (a *Anchor) given() bool { return a.Published != nil || a.ExpectHead != "" }

// anchorText names the anchors the store is checked against, or says
// plainly that none was and what that leaves unchecked: rep's Unchecked,
// which verify chose from the anchor's (a head with no count is not
// "not checked" at a store that records counted heads, but rolled back).
func (b *builder) anchorText(rep *collector.VerifyReport) string {
	a := &b.cfg.Anchor
	var w strings.Builder
	if !a.given() {
		w.WriteString("Rollback: NOT CHECKED. No published head was given to the pack (`--etcd` where the collector publishes `<prefix>/audit/head`, `--published-head FILE` or `--expect-head HASH`), so a copy of the store restored from before its newest entries would verify here; `portcullis audit verify` with one of them finds it.\n\n")
	} else {
		w.WriteString("Rollback: checked against heads kept outside the data directory (a store behind or forked from them fails):\n\n")
		if p := a.Published; p != nil {
			fmt.Fprintf(&w, "- published head: seq %d, chain hash %s, signed %s", p.Seq, p.Hash, rfc(p.Time))
			if len(a.Checked) > 0 {
				fmt.Fprintf(&w, "; read from %s", strings.Join(a.Checked, "; "))
			}
			w.WriteString("\n")
		}
		for _, p := range a.Others {
			fmt.Fprintf(&w, "- another published head, which the store must hold too: seq %d, chain hash %s, signed %s\n", p.Seq, p.Hash, rfc(p.Time))
		}
		if a.ExpectHead != "" {
			fmt.Fprintf(&w, "- head kept earlier (`--expect-head`): chain hash %s\n", a.ExpectHead)
		}
		w.WriteString("\n")
	}
	for _, m := range a.Missing {
		fmt.Fprintf(&w, "Not found: %s.\n\n", m)
		b.warn("published head not found: %s", m)
	}
	for _, u := range rep.Unchecked {
		fmt.Fprintf(&w, "Not checked: %s.\n\n", u)
		b.warn("published head not checked: %s", u)
	}
	return w.String()
}

// alertSample writes up to three alerts of the period with their tickets
// and closure notes, or says there were none.
func (b *builder) alertSample() ([]byte, error) {
	var w bytes.Buffer
	fmt.Fprintf(&w, "# API abuse: alert-to-ticket samples, %s\n\n", b.cfg.Period.Name)
	n := 0
	for i := range b.alerts {
		a := &b.alerts[i]
		if len(a.Tickets) == 0 || n == 3 {
			continue
		}
		n++
		fmt.Fprintf(&w, "## Alert %s (%s, %s)\n\n- rule: %s\n- %s: %s, tenant %s\n- opened %s, last seen %s, count %d\n- status: %s\n",
			mdText(a.ID), mdText(a.Severity), mdText(a.Kind), mdText(a.Rule), mdText(a.Group), mdText(a.Key), mdText(dash(a.Tenant)),
			rfc(a.Opened), rfc(a.LastSeen), a.Count, mdText(a.Status))
		if a.Folded > 0 { // one alert for many sources, its key "*" (alert package, fold.go)
			fmt.Fprintf(&w, "- folded: %d %s groups, the first: %s\n", a.Folded, mdText(a.Group), mdText(strings.Join(a.FoldedKeys, ", ")))
		}
		for _, t := range a.Tickets {
			fmt.Fprintf(&w, "- ticket: %s %s\n", mdText(t.Sink), mdText(t.Key))
		}
		if a.Note != "" || a.CorrectiveAction != "" {
			// The note is the closing event's reason, cleared
			// (clearOperatorText); the corrective action its details'.
			fmt.Fprintf(&w, "- closure note: %s\n- corrective action: %s\n", mdText(dash(a.Note)), mdText(dash(collector.RedactText(a.CorrectiveAction))))
		}
		w.WriteString("\n")
	}
	if n == 0 {
		fmt.Fprintf(&w, "None in period: %d alerts, none with a ticket.\n", len(b.alerts))
	}
	return w.Bytes(), nil
}

// tenantShare is one tenant's requests in the period and the total.
type tenantShare struct {
	tenant   string
	n, total int64
}

// tenantShares returns every tenant's share of the period's requests,
// largest first: the noisy-neighbour evidence.
func (b *builder) tenantShares() []tenantShare {
	by, total := b.tally.tenant, b.tally.total
	out := make([]tenantShare, 0, len(by))
	for t, n := range by {
		out = append(out, tenantShare{tenant: t, n: n, total: total})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].tenant < out[j].tenant
	})
	return out
}
