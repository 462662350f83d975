package alert

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/credential"
	"github.com/portcullis/portcullis/policy"
)

// Report is the whole chain of one alert, from the trail: detection,
// tickets, containment with when each sidecar enforced it, the assessment
// of what the client did, and the closure.
type Report struct {
	Alert       Alert               `json:"alert"`
	Containment []ContainmentChange `json:"containment"` // control-plane changes whose reason names the alert
	ContainedAt time.Time           `json:"contained_at,omitzero"`
	Enforcement []Enforced          `json:"enforcement"`
	Assessment  *Assessment         `json:"assessment"`
}

// ContainmentChange is a control-plane change of the containment, as the trail
// holds it.
type ContainmentChange struct {
	collector.Event
	// Flags holds collector.FlagUnverified when its entry was not
	// verified (BuildVerifiedReport).
	Flags []string `json:"flags,omitempty"`
}

// Enforced is the first request one sidecar (one pod: the batch's
// instance id, else its host, else its sender) denied under the
// containment, one for each sender that sent records of the pod. Several
// pods may share one sender token, so the sender alone does not tell them
// apart; and the pod is the sender's to write, so the pod alone does not
// either.
type Enforced struct {
	Pod       string        `json:"pod"`
	Host      string        `json:"host,omitempty"`
	Sender    string        `json:"sender"`
	Time      time.Time     `json:"time"`
	Decision  string        `json:"decision"`
	RequestID string        `json:"request_id"`
	After     time.Duration `json:"after_ns"` // since the containment was written
	// Flags holds collector.FlagUnverified when the record's entry was
	// not verified (BuildVerifiedReport).
	Flags []string `json:"flags,omitempty"`
}

// BuildReport builds the report of alert id from the trail in dir; doc,
// when not nil, marks privileged routes in the assessment. It verifies
// nothing: every part read from the trail is flagged unverified (see
// BuildVerifiedReport).
func BuildReport(dir, id string, doc *policy.Document) (*Report, error) {
	r, _, err := BuildVerifiedReport(dir, id, doc, nil, collector.VerifyOptions{})
	return r, err
}

// BuildVerifiedReport is BuildReport verifying what it reads with pub and
// opts, as audit query does (collector.ReadStore with MarkVerified): the
// alert's lifecycle is rebuilt from the entries that pass their own
// checks only, as the collector's detection replays it (Config.TrailKey);
// each containment change and enforcement read from an entry that fails
// them is flagged unverified; the assessment is AssessVerified's. It
// returns the store's verification report (nil with a nil pub: nothing is
// verified and every change, enforcement and request is flagged).
func BuildVerifiedReport(dir, id string, doc *policy.Document, pub ed25519.PublicKey, opts collector.VerifyOptions) (*Report, *collector.VerifyReport, error) {
	e, err := New(Config{TrailKey: pub})
	if err != nil {
		return nil, nil, err
	}
	if err := e.Replay(dir); err != nil {
		return nil, nil, err
	}
	r := &Report{}
	for _, a := range e.Alerts() {
		if a.ID == id {
			r.Alert = a
		}
	}
	if r.Alert.ID == "" {
		return nil, nil, fmt.Errorf("no alert %q in the store in %q", id, dir)
	}
	rep, err := r.containment(dir, pub, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := r.enforcement(dir, pub, opts); err != nil {
		return nil, nil, err
	}
	if r.Alert.Client != "" {
		from := r.Alert.Opened.Add(-time.Hour)
		if r.Assessment, _, err = AssessVerified(dir, r.Alert.Client, from, time.Time{}, doc, pub, opts); err != nil {
			return nil, nil, err
		}
	}
	return r, rep, nil
}

// containing are the control-plane changes that contain.
var containing = map[string]bool{"client.suspend": true, "key.revoke": true, "token.revoke": true}

// unverified returns the flags of a part of the report read from e.
func unverified(e *collector.Entry) []string {
	if e.Verified {
		return nil
	}
	return []string{collector.FlagUnverified}
}

// containment collects, in a read of the store verified with pub (nil:
// not verified), the lifecycle events naming the alert in their reason;
// the earliest suspension or revocation is when it was contained.
func (r *Report) containment(dir string, pub ed25519.PublicKey, opts collector.VerifyOptions) (*collector.VerifyReport, error) {
	return collector.ReadStore(dir, collector.Pass{VerifyKey: pub, Verify: opts, MarkVerified: true,
		Events: func(e *collector.Entry, ev *collector.Event) error {
			if !containing[ev.Action] || !strings.Contains(ev.Reason, r.Alert.ID) {
				return nil
			}
			r.Containment = append(r.Containment, ContainmentChange{Event: *ev, Flags: unverified(e)})
			t := ev.ClaimedTime
			if t.IsZero() {
				t = ev.Time
			}
			if r.ContainedAt.IsZero() || t.Before(r.ContainedAt) {
				r.ContainedAt = t
			}
			return nil
		}})
}

// enforcement finds, per pod and sender, the first request of the client
// (or the revoked key) denied after the containment was written, reading
// the store again verified with pub (nil: not verified). The pod is the
// sender's to write: keyed by it alone, a denial another sender's token
// claimed for a pod, a moment earlier, hid the pod's own
// (TestReportKeepsEachSendersDenialOfAPod).
func (r *Report) enforcement(dir string, pub ed25519.PublicKey, opts collector.VerifyOptions) error {
	if r.ContainedAt.IsZero() {
		return nil
	}
	type sidecar struct{ pod, sender string }
	first := map[sidecar]*Enforced{}
	_, err := collector.ReadStore(dir, collector.Pass{VerifyKey: pub, Verify: opts, MarkVerified: true,
		Records: func(en *collector.Entry, rec *collector.StoredRecord) error {
			pod := podOf(en)
			k := sidecar{pod, en.Sender}
			if e := first[k]; (e != nil && !rec.Time.Before(e.Time)) || rec.Time.Before(r.ContainedAt) || !r.denied(rec) {
				return nil
			}
			first[k] = &Enforced{Pod: pod, Host: en.Host, Sender: en.Sender, Time: rec.Time, Decision: rec.Decision,
				RequestID: rec.RequestID, After: rec.Time.Sub(r.ContainedAt), Flags: unverified(en)}
			return nil
		}})
	for _, e := range first {
		r.Enforcement = append(r.Enforcement, *e)
	}
	sort.Slice(r.Enforcement, func(i, j int) bool {
		a, b := &r.Enforcement[i], &r.Enforcement[j]
		return a.Pod < b.Pod || a.Pod == b.Pod && a.Sender < b.Sender
	})
	return err
}

// podOf names the sidecar that sent a batch: its instance id, else its
// host, else (an old sender that names neither) its sender.
func podOf(en *collector.Entry) string {
	switch {
	case en.Instance != "":
		return en.Instance
	case en.Host != "":
		return en.Host
	}
	return en.Sender
}

// denied reports whether rec is a refusal the containment caused.
func (r *Report) denied(rec *collector.StoredRecord) bool {
	a := &r.Alert
	switch {
	case rec.Decision == "suspended" && rec.Client == a.Client:
		return true
	case rec.Decision == "key_revoked" && a.RuleAction == "revoke_key" && rec.KeyID == a.KeyID: // a wrong secret proves nothing
		return true
	}
	return false
}

// WriteMarkdown writes the report as a Markdown document. Every text
// from the trail has what reads as a credential redacted (redact, the
// collector's rules for free text): a client's request id may be its own
// API key, an operator's reason may quote a password, and the report is
// pasted into post-mortems and tickets.
func WriteMarkdown(w io.Writer, r *Report) error {
	a := &r.Alert
	// No field starts a line of its own or is markup, or holds a credential.
	md := func(s string) string { return MarkdownText(redact(s)) }
	span := func(s string) string { return codeSpan(redact(s)) }
	// A sender is the collector's name for whom it authenticated
	// ("token:fleet"), no free text: the pair rules would read it as a
	// token's value. Only the credential shapes are cleared from it.
	sender := func(s string) string { return MarkdownText(credential.Redact(s)) }
	fmt.Fprintf(w, "# Incident report: %s\n\n", md(a.ID))
	fmt.Fprintf(w, "## Detection\n\n- rule: %s (%s, severity %s, window %s)\n- group: %s %s\n- tenant: %s, client: %s, key id: %s\n- matching requests: %d, first %s, last %s\n- request ids: %s\n",
		span(a.Rule), md(a.Kind), md(a.Severity), md(a.Window), md(a.Group), span(a.Key), md(dash(a.Tenant)), md(dash(a.Client)), md(dash(a.KeyID)),
		a.Count, stamp(a.Opened), stamp(a.LastSeen), md(dash(strings.Join(a.RequestIDs, ", "))))
	if a.Previous != "" {
		fmt.Fprintf(w, "- re-fire of: %s\n", md(a.Previous))
	}
	if a.Folded > 0 {
		keys := make([]string, len(a.FoldedKeys))
		for i, k := range a.FoldedKeys {
			keys[i] = span(k)
		}
		fmt.Fprintf(w, "- folded: %d %s groups past the rule's %d open alerts, the first: %s\n", a.Folded, md(a.Group), maxOpenPerRule, strings.Join(keys, ", "))
	}
	fmt.Fprintf(w, "\n## Ticket\n\n")
	for _, t := range a.Tickets {
		fmt.Fprintf(w, "- %s: %s\n", md(t.Sink), md(t.Key))
	}
	if len(a.Tickets) == 0 {
		fmt.Fprintln(w, "- none")
	}
	fmt.Fprintf(w, "\n## Containment\n\n")
	for _, ev := range r.Containment {
		fmt.Fprintf(w, "- %s %s %s by %s (ticket %s): %s%s\n", stamp(ev.Time), span(ev.Action), md(ev.Target), md(dash(ev.Actor)), md(dash(ev.Ticket)), md(ev.Reason), flagNote(ev.Flags))
	}
	if len(r.Containment) == 0 {
		fmt.Fprintln(w, "- none")
	}
	fmt.Fprintf(w, "\n### Enforcement per sidecar\n\n")
	for _, e := range r.Enforcement {
		fmt.Fprintf(w, "- %s (sender %s): first denied request %s at %s (%s after containment)%s\n", md(e.Pod), sender(dash(e.Sender)), md(e.RequestID), stamp(e.Time), e.After.Round(time.Millisecond), flagNote(e.Flags))
	}
	if len(r.Enforcement) == 0 {
		fmt.Fprintln(w, "- no denied request recorded yet")
	}
	// Each line of the assessment holds more than its text, so none is a
	// closing fence alone: the block holds it.
	fmt.Fprintf(w, "\n## Assessment\n\n```\n")
	if r.Assessment != nil {
		WriteAssessment(w, r.Assessment)
	}
	fmt.Fprintf(w, "```\n\n## Lifecycle and closure\n\n")
	for _, c := range a.History {
		fmt.Fprintf(w, "- %s %s by %s: %s\n", stamp(c.Time), span(c.Action), md(dash(c.Actor)), md(dash(c.Reason)))
	}
	_, err := fmt.Fprintf(w, "\nstatus: **%s**; note: %s; corrective action: %s\n", md(a.Status), md(dash(a.Note)), md(dash(a.CorrectiveAction)))
	return err
}

// flagNote is a report line's flags, " [unverified]", or "".
func flagNote(flags []string) string {
	if len(flags) == 0 {
		return ""
	}
	return " [" + strings.Join(flags, ",") + "]"
}
