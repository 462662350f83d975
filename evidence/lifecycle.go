package evidence

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// lifecycleActions are the credential changes the lifecycle log lists.
var lifecycleActions = map[string]bool{
	etcdadmin.ActionKeyCreate: true, etcdadmin.ActionKeyRotate: true, etcdadmin.ActionKeyRevoke: true,
	etcdadmin.ActionTokenRevoke: true, etcdadmin.ActionClientSuspend: true, etcdadmin.ActionClientResume: true,
}

// tokenLifecycle writes every credential change of the period with actor,
// ticket and time, then the keys of the policy in force without an
// expiry, flagged, then every key's age against lifecycle.max_key_age
// with its rotation evidence.
func (b *builder) tokenLifecycle() ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"time", "action", "target", "actor", "ticket", "reason", "etcd_revision", "unverified", "flag"})
	for i := range b.events {
		ev := &b.events[i]
		if !lifecycleActions[ev.Action] {
			continue
		}
		flag := ""
		if ev.Ticket == "" {
			flag = "no ticket"
		}
		w.Write(csvCells(rfc(ev.Time), ev.Action, ev.Target, ev.Actor, ev.Ticket, ev.Reason,
			strconv.FormatInt(ev.Revision, 10), ev.Unverified, flag))
	}
	for _, k := range b.doc.Keys {
		if k.NotAfter == "" && !k.Revoked {
			w.Write(csvCells("", "policy key", k.ID, k.CreatedBy, k.Ticket, "", strconv.FormatInt(b.inForce.Revision, 10), "", "no expiry"))
		}
	}
	b.keyAgeRows(w) // keyage.go
	w.Flush()
	return buf.Bytes(), w.Error()
}

// credentialPatterns are the shapes of a credential that must never reach
// a record: a Portcullis API key, a JWT, a bearer string.
var credentialPatterns = []credentialPattern{
	{"API key", regexp.MustCompile(regexp.QuoteMeta(policy.KeyPrefix) + `[A-Za-z0-9]+_[A-Za-z0-9_-]{16,}`), policy.KeyPrefix, false},
	{"JWT", regexp.MustCompile(`eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`), "eyJ", false},
	{"bearer string", regexp.MustCompile(`(?i)bearer\s+[A-Za-z0-9._~+/-]{8,}`), "bearer", true},
}

// credentialPattern is one credential shape, with the literal every
// match holds (in any case when fold is set) as a cheap first test.
type credentialPattern struct {
	name    string
	re      *regexp.Regexp
	literal string
	fold    bool
}

// recordTexts returns the free-text fields of r a credential could leak
// into.
func recordTexts(r *collector.StoredRecord) []string {
	t := []string{r.Path, r.UserAgent, r.Body, r.Client, r.KeyID, r.Issuer, r.RequestID, r.Route}
	for k, v := range r.Attributes {
		t = append(t, k, v)
	}
	return t
}

// credentialScan writes the result of scanning the period's records for
// credential shapes; a hit names the record (time, request id) and the
// pattern, never the matched text.
func (b *builder) credentialScan() ([]byte, error) {
	var w bytes.Buffer
	fmt.Fprintf(&w, "# API logging: credential scan of the records, %s\n\n", b.cfg.Period.Name)
	w.WriteString("Patterns: ")
	for i, p := range credentialPatterns {
		if i > 0 {
			w.WriteString(", ")
		}
		fmt.Fprintf(&w, "%s (`%s`)", p.name, p.re)
	}
	t := b.tally
	fmt.Fprintf(&w, "\n\nRecords scanned: %d. Records matching a credential pattern: %d.\n", t.records, t.scanHits)
	if t.scanHits == 0 {
		w.WriteString("\nResult: PASS, no credential found in the period's records.\n")
		return w.Bytes(), nil
	}
	w.WriteString("\nResult: FAIL\n")
	if t.scanHits > maxScanLines {
		fmt.Fprintf(&w, "\nThe first %d matches are listed.\n", maxScanLines)
	}
	w.WriteString("\n| time | request id | sender | pattern |\n|---|---|---|---|\n")
	w.Write(t.scanLines.Bytes())
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

// mdCell makes record text safe in a Markdown table cell.
func mdCell(s string) string {
	return strings.ReplaceAll(strconv.Quote(dash(s)), "|", `\|`)
}
