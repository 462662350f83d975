package evidence

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/credential"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// lifecycleActions are the credential changes the lifecycle log lists.
var lifecycleActions = map[string]bool{
	etcdadmin.ActionKeyCreate: true, etcdadmin.ActionKeyRotate: true, etcdadmin.ActionKeyRevoke: true,
	etcdadmin.ActionTokenRevoke: true, etcdadmin.ActionClientSuspend: true, etcdadmin.ActionClientResume: true,
	etcdadmin.ActionTokenRevocationExpired: true,
	// Changed by hand, with no event (etcdadmin.FollowEvents): flagged.
	etcdadmin.ActionRevocationDeleted: true, etcdadmin.ActionRevocationWritten: true,
	etcdadmin.ActionSuspensionDeleted: true, etcdadmin.ActionSuspensionWritten: true,
	etcdadmin.ActionPolicyWritten: true, etcdadmin.ActionPolicyDeleted: true,
	etcdadmin.ActionHistoryWritten: true, etcdadmin.ActionHistoryDeleted: true,
	etcdadmin.ActionKeyWritten: true, etcdadmin.ActionKeyDeleted: true,
	etcdadmin.ActionApprovalWritten: true, etcdadmin.ActionApprovalDeleted: true,
	etcdadmin.ActionEventDeleted: true, // an event's key deleted: flagged
}

// tokenLifecycle writes every credential change of the period with actor,
// ticket and time, then the pushes that weakened the two-person controls
// with the approval spent on each (or the flag of its lack), then the
// keys of the policy in force without an expiry, flagged, then every
// key's age against lifecycle.max_key_age with its rotation evidence.
func (b *builder) tokenLifecycle() ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	// The ticket and a second person's approval are columns apart: a
	// ticket names a change record, and the key's maker wrote it.
	w.Write([]string{"time", "action", "target", "actor", "ticket", "reason", "etcd_revision", "unverified", "flag", "approval", "etcd_user"})
	samples, _ := b.approvals() // approvals.go
	for i := range b.events {
		ev := &b.events[i]
		if !lifecycleActions[ev.Action] {
			continue
		}
		flag := ""
		if etcdadmin.Blank(ev.Ticket) { // as require_ticket reads it
			flag = "no ticket"
		}
		approval := ""
		if ev.Action == etcdadmin.ActionKeyCreate || ev.Action == etcdadmin.ActionKeyRotate {
			// A rotation's successor is a new key: keys rotate spends
			// a keys create approval as keys create does
			// (TestLifecycleLogShowsARotationsApproval).
			_, approval, _ = b.keyCreateApproval(ev, samples) // keyapproval.go
		}
		var d map[string]string
		json.Unmarshal(ev.Details, &d) // a malformed detail leaves the cell empty
		w.Write(csvCells(rfc(ev.Time), ev.Action, ev.Target, ev.Actor, ev.Ticket, ev.Reason,
			strconv.FormatInt(ev.Revision, 10), ev.Unverified, flag, approval, etcdUserCell(ev, d, b.cfg.Prefix))) // etcduser.go
	}
	for _, wp := range b.weakeningPushes() { // weakening.go
		e := wp.entry
		w.Write(csvCells(rfc(e.Time), "policy.push (weakens two-person controls)", "policy@"+strconv.FormatInt(e.Revision, 10), e.Actor, e.Ticket,
			strings.Join(wp.weak, "; "), strconv.FormatInt(e.Revision, 10), "", cmp.Or(wp.flag(), "approval "+wp.approval+" spent"), wp.approval, ""))
	}
	for _, k := range b.doc.Keys {
		if k.NotAfter == "" && !k.Revoked {
			w.Write(csvCells("", "policy key", k.ID, k.CreatedBy, k.Ticket, "", strconv.FormatInt(b.inForce.Revision, 10), "", "no expiry", "", ""))
		}
	}
	b.keyAgeRows(w) // keyage.go
	w.Flush()
	return buf.Bytes(), w.Error()
}

// nRecordTexts is the number of string fields of a record.
const nRecordTexts = 22

// recordTexts returns every string field of r, any of which a credential
// could leak into and most of which the pack copies out (tenant, source
// address, method, decision, limit, sender, pod...); attributes and flags are
// read apart. TestScanReadsEveryRecordText holds it to the struct.
func recordTexts(r *collector.StoredRecord) [nRecordTexts]string {
	return [...]string{r.Path, r.UserAgent, r.Body, r.Client, r.KeyID, r.Issuer, r.RequestID, r.Route,
		r.Tenant, r.AuthMethod, r.TokenFingerprint, r.Method, r.Decision, r.Limit, r.ApprovalID, r.SourceIP, r.Sender, r.Pod, r.CertSerial, r.CertIssuer, r.BoundTenants, r.Cut}
}

// recordMatches reports whether some text of r matches re.
func recordMatches(re *regexp.Regexp, r *collector.StoredRecord) bool {
	texts := recordTexts(r)
	if matchAny(re, texts[:]) || matchAny(re, r.Flags) {
		return true
	}
	for k, v := range r.Attributes {
		if re.MatchString(k) || re.MatchString(v) {
			return true
		}
	}
	return false
}

// redact replaces each credential in s by its kind, for a cell the scan
// shows to name what matched (a request id may itself be the key).
func redact(s string) string {
	held := literalsInText(s)
	if held&encodedBit != 0 {
		return "[" + credential.EncodedName + " removed]"
	}
	for k, p := range credential.Patterns {
		if held&(1<<k) != 0 {
			s = p.RE.ReplaceAllLiteralString(s, "["+p.Name+" removed]")
		}
	}
	return s
}

// credentialScan writes the result of scanning the period's records and
// lifecycle events for credential shapes and, in a pack, every file the
// pack writes (b.fileScan); a hit names the record (time, request id), the
// event (time, revision) or the file and the pattern, never the matched
// text.
func (b *builder) credentialScan() ([]byte, error) {
	var w bytes.Buffer
	fmt.Fprintf(&w, "# API logging: credential scan, %s\n\n", b.cfg.Period.Name)
	w.WriteString("Patterns: ")
	for i, p := range credential.Patterns {
		if i > 0 {
			w.WriteString(", ")
		}
		fmt.Fprintf(&w, "%s (`%s`)", p.Name, p.RE)
	}
	w.WriteString("; each also percent-decoded, and in every run of base64 (HTTP Basic credentials, a token wrapped again) decoded (" + credential.EncodedName + ")")
	t := b.tally
	w.WriteString("\n\nEvery text field of the records and of the lifecycle events (reasons included) is scanned.\n\n")
	fmt.Fprintf(&w, "Records scanned: %d. Records matching a credential pattern: %d.\n", t.records, t.scanHits)
	fmt.Fprintf(&w, "Lifecycle events scanned: %d. Events matching a credential pattern: %d.\n", t.eventsScanned, t.eventHits)
	ps := cmp.Or(b.policyScan, &historyScan{}) // nil in a builder not loaded (tests)
	fmt.Fprintf(&w, "Policy texts scanned (each push's actor, reason and ticket, each key's created_by and ticket in the policies in force during the period, as etcd holds them): %d. Matching a credential pattern: %d.\n", ps.scanned, ps.hits)
	files := 0
	if b.fileScan != nil {
		for _, h := range b.fileScan.hits {
			files += h.count
		}
		fmt.Fprintf(&w, "Files of this pack scanned (all %d it writes, this one, index.html and the manifests included, as written): matches of a credential pattern: %d.\n", b.fileScan.n, files)
	}
	if t.scanHits == 0 && t.eventHits == 0 && ps.hits == 0 && files == 0 {
		what := "the period's records and lifecycle events, the policy's texts"
		if b.fileScan != nil {
			what += ", or the pack's files"
		}
		fmt.Fprintf(&w, "\nResult: PASS, no credential found in %s.\n", what)
		return w.Bytes(), nil
	}
	w.WriteString("\nResult: FAIL\n")
	hitTable(&w, "Records", t.scanHits, "| time | request id | sender | pattern |\n|---|---|---|---|\n", t.scanLines.Bytes())
	hitTable(&w, "Lifecycle events", t.eventHits, "| time | etcd revision | action | target | pattern |\n|---|---|---|---|---|\n", t.eventLines.Bytes())
	hitTable(&w, "Policy texts", ps.hits, "| pushed | etcd revision | text of | pattern |\n|---|---|---|---|\n", ps.lines.Bytes())
	if files > 0 {
		w.WriteString("\n## Files of this pack\n\nThe pack copies these texts as the trail holds them (a lifecycle event's and a policy push's actor, reason and ticket, and a policy key's created_by and ticket, it prints cleared of what the CLI clears); they are reported, not altered.\n\n| file | pattern | matches | first at line |\n|---|---|---|---|\n")
		for _, h := range b.fileScan.hits {
			fmt.Fprintf(&w, "| %s | %s | %d | %d |\n", h.file, h.pattern, h.count, h.line)
		}
	}
	return w.Bytes(), nil
}

func matchAny(re *regexp.Regexp, texts []string) bool {
	for _, t := range texts {
		if re.MatchString(t) {
			return true
		}
	}
	return false
}

// mdCell makes record text safe in a Markdown table cell: quoted (no
// line breaks), what a renderer autolinks bracketed (alert.Unlinked), the
// cell's | and the characters that make links, images, HTML and emphasis
// escaped.
func mdCell(s string) string {
	return mdCellEscaper.Replace(strconv.Quote(alert.Unlinked(dash(s))))
}

// mdCellEscaper is alert.MarkdownText's escaper but for the backslash,
// which strconv.Quote has escaped already, and with the table's |.
var mdCellEscaper = strings.NewReplacer("|", `\|`, "`", "\\`", "*", `\*`, "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`, "&", `\&`, "@", `\@`)

// hitTable writes the section title of a scan's matches, when there are
// any: how many are listed, the table's head and its rows.
func hitTable(w *bytes.Buffer, title string, hits int, head string, rows []byte) {
	if hits == 0 {
		return
	}
	fmt.Fprintf(w, "\n## %s\n\n", title)
	if hits > maxScanLines {
		fmt.Fprintf(w, "The first %d matches are listed.\n\n", maxScanLines)
	}
	w.WriteString(head)
	w.Write(rows)
}
