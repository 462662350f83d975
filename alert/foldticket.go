package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/credential"
)

// A folded alert (fold.go) is ticketed once, when it opens, folding one
// group; an attack goes on folding thousands into it. So the outbox tells
// each of its tickets how far it has grown: an update delivery (a Jira or
// GitHub comment, a ServiceNow work note, a signed alert.update to the
// webhook, a Slack message) through the same durable queue as the ticket
// and its closure, recorded in the trail as alert.ticket_update (update
// "folded", with the number of groups told). A fold that keeps growing
// tells its ticket at most foldTellFirst after the ticket, then at twice
// the gap each time up to foldTellMax: some 30 comments the first day of
// a storm, however many groups it folds, where once a minute would be
// 1,440. What is due is read from the alert's history, which a replay
// and a snapshot restore rebuild, so a restart loses no update and sends
// none twice (TestFoldedTicketToldAsTheFoldGrows).

const (
	foldTellFirst = time.Minute // the first update after the ticket
	foldTellMax   = time.Hour   // the longest gap between updates
	// foldPoll is how often the outbox looks at the folded alerts for
	// growth to tell.
	foldPoll = time.Minute
)

// updateFolded is the "update" detail of an alert.ticket_update that
// told a ticket of its folded alert's growth ("closed" tells a closure).
const updateFolded = "folded"

// foldTold returns what the trail records told to ticket key of sink of
// a folded alert: how many updates, the most groups one told (the ticket
// told one), and when the last was, or the ticket filed. Each ticket is
// told apart: an alert may hold two at one sink (one filed by the sink,
// one recorded through etcd), and counted by sink the first one's
// updates counted for the other, which was never told
// (TestFoldUpdatesToldToEachTicketAtOneSink).
func foldTold(a *Alert, sink, key string) (n int, folded int64, last time.Time) {
	folded = 1
	for _, c := range a.History {
		if c.Details["sink"] != sink || c.Details["ticket"] != key {
			continue
		}
		switch {
		case c.Action == ActionTicket && last.IsZero():
			last = c.Time
		case c.Action == ActionTicketUpdate && c.Details["update"] == updateFolded:
			v, _ := strconv.ParseInt(c.Details["folded"], 10, 64)
			n, folded, last = n+1, max(folded, v), c.Time
		}
	}
	return n, folded, last
}

// foldGap is the least time between update n (0 the first) and the one
// before it, or the ticket.
func foldGap(n int) time.Duration {
	if n >= 6 { // 1 min << 6 is past the hour
		return foldTellMax
	}
	return min(foldTellFirst<<n, foldTellMax)
}

// updates reports whether the sink's API lets an update reach ticket
// key: what lets a closure reach it, its key one path segment where it
// goes into the URL.
func (s *Sink) updates(key string) bool {
	switch s.Kind {
	case "jira", "github":
		return pathSegment(strings.TrimPrefix(key, "#"))
	case "servicenow": // NUMBER/SYS_ID; the sys_id goes into the path
		return pathSegment(snowSysID(key))
	}
	return true
}

// foldPath is where an update of ticket key of sink waits: a file of its
// own for each ticket (ticketPath). ALERT~SINK~fold.json, the one file of
// a sink before, is still delivered.
func (o *Outbox) foldPath(id, sink, key string) string {
	return o.ticketPath(id, sink, "fold", key)
}

// foldDue queues an update for each ticket of an open folded alert that
// has folded more groups than the trail says it was told, once its gap
// (foldGap) has passed, and returns how long to wait before looking again.
func (o *Outbox) foldDue(now time.Time) time.Duration {
	wait := o.cfg.MaxBackoff
	unqueued := false
	for _, a := range o.cfg.Engine.FoldedAlerts() {
		for _, t := range o.told(&a) {
			s := o.sink(t.Sink)
			if s == nil || !s.updates(t.Key) {
				continue
			}
			wait = min(wait, foldPoll)
			n, told, last := foldTold(&a, t.Sink, t.Key)
			if a.Folded <= told {
				continue
			}
			if due := last.Add(foldGap(n)); now.Before(due) {
				wait = min(wait, due.Sub(now))
				continue
			}
			p := o.foldPath(a.ID, t.Sink, t.Key)
			if _, err := os.Stat(p); err == nil {
				continue // queued: it tells what the alert holds when sent
			}
			if err := o.writeQueued(queued{Alert: a, Sink: t.Sink, Fold: t.Key}, p); err != nil {
				// A full disk: written again at the next pass, within
				// foldPoll, and Unqueued says one waits meanwhile
				// (TestFoldUpdateQueuedOnFullDisk).
				unqueued = true
				o.fail(fmt.Errorf("%w; written again in %s", err, foldPoll))
			}
		}
	}
	o.mu.Lock()
	o.foldUnqueued = unqueued
	o.mu.Unlock()
	return wait
}

// foldSent is what an update told its ticket, kept while the trail
// cannot record it (Outbox.sentFold).
type foldSent struct {
	folded  int64
	refused string
}

// deliverFold tells the ticket of q the growth of its folded alert, as
// the engine holds it now (the queued copy is the alert when the update
// fell due), records it and removes the delivery. An alert closed since,
// or whose growth the trail records told, or told less than its gap ago,
// needs none.
func (o *Outbox) deliverFold(name, p string, sink *Sink, q *queued) error {
	a, ok := o.cfg.Engine.Alert(q.Alert.ID)
	if !ok || a.Status == StatusClosed {
		return o.done(name, p)
	}
	n, told, last := foldTold(&a, q.Sink, q.Fold)
	if a.Folded <= told || o.cfg.Now().Before(last.Add(foldGap(n))) {
		// Told, or told since it was queued (the trail recorded it and
		// the collector died before removing the file): foldDue queues
		// the next when its gap has passed
		// (TestFoldUpdateLeftQueuedByACrashWaitsItsGap).
		return o.done(name, p)
	}
	q.Alert = a
	q.Refused = ""
	if err := sink.tellFold(o.cfg.Client, &a, q.Fold, n+1, o.cfg.Now()); errors.Is(err, errFoldRefused) {
		// Refused for good (an issue deleted since): recorded as an
		// update told, so the next waits its gap rather than the retry
		// going on at the longest backoff while the alert is open
		// (TestFoldUpdateRefusedForGoodWaitsItsGap).
		q.Refused = credential.Redact(err.Error())
		o.fail(err)
	} else if err != nil {
		return err
	}
	return o.record(name, p, q, q.Fold)
}

// foldNote is what an update says of a, already redacted (sinkAlert).
func foldNote(a *Alert) string {
	return fmt.Sprintf("Alert %s has grown: it folds %d %s groups now (count %d, last seen %s).", a.ID, a.Folded, a.Group, a.Count,
		a.LastSeen.UTC().Format(time.RFC3339))
}

// maxFoldText bounds the text of an update, in bytes: well short of the
// 32,767 characters of a Jira comment, with the room its {noformat}
// block and the breaking of each "{noformat" in it take.
const maxFoldText = 24000

// foldText is what an update of the ticket of p (sinkAlert's) says: note,
// then the alert without the lines of its history telling the fold (the
// ticket has them, as its comments; a line more each update to each sink),
// cut at maxFoldText bytes. Whole, it grew with every update until Jira
// refused it for good (TestFoldUpdateFitsJiraCommentLimit).
func foldText(note string, p *Alert) string {
	h := make([]Change, 0, len(p.History))
	for _, c := range p.History {
		if c.Action != ActionTicketUpdate || c.Details["update"] != updateFolded {
			h = append(h, c)
		}
	}
	p.History = h
	s := note + "\n\n" + description(p)
	if len(s) > maxFoldText {
		n := maxFoldText
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "\n(cut at " + strconv.Itoa(maxFoldText) + " bytes)"
	}
	return s
}

// foldRequest builds update n of ticket key of the folded alert a: the
// generic webhook gets a signed alert.update with the alert as it is,
// Jira and GitHub a comment, ServiceNow a work note, Slack a message,
// each with the alert's text as the ticket has it; every text redacted
// (sinkAlert). The delivery id names the update, so a receiver drops a
// resend (the collector died before the trail recorded it).
func (s *Sink) foldRequest(a *Alert, key string, n int, now time.Time) (*http.Request, error) {
	p := sinkAlert(a, s.Kind)
	note := foldNote(p)
	method, url := http.MethodPost, s.URL
	if !s.updates(key) {
		// The key came in the ticket system's answer (or an etcd
		// alert.ticket) and goes into the URL's path: "../x?" would move
		// the request elsewhere on the sink's host.
		return nil, fmt.Errorf("ticket sink %q: ticket key %q is not one path segment (letters, digits, '-', '_', '.'); the ticket is not updated", s.Name, key)
	}
	var v any
	switch s.Kind {
	case "webhook":
		v = struct {
			Event string `json:"event"`
			Alert *Alert `json:"alert"`
		}{ActionUpdate, p}
	case "jira": // POST /rest/api/2/issue/{key}/comment; wiki markup, so the text in {noformat}
		url, v = strings.TrimSuffix(s.URL, "/")+"/"+key+"/comment", map[string]string{"body": jiraNoformat(foldText(note, p))}
	case "github": // POST /repos/{owner}/{repo}/issues/{number}/comments; Markdown
		url = strings.TrimSuffix(s.URL, "/") + "/" + strings.TrimPrefix(key, "#") + "/comments"
		v = map[string]string{"body": githubFenced(foldText(note, p))}
	case "servicenow": // Table API, PATCH /api/now/table/incident/{sys_id}; a journal field
		method, url = http.MethodPatch, strings.TrimSuffix(s.URL, "/")+"/"+snowSysID(key)
		v = map[string]string{"work_notes": snowJournal(foldText(note, p))}
	case "slack":
		v = slackMessage(slackText(note))
	default:
		return nil, fmt.Errorf("ticket sink %q: kind %q cannot update tickets", s.Name, s.Kind)
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return s.newRequest(method, url, foldDeliveryID(a, s.Name, key, n), body, now)
}

// foldDeliveryID is the delivery id of update n of ticket key of sink:
// ALERT.SINK.fold.N for the sink's first ticket, and the key's hash
// after it for another, whose update N is not a resend of the first's (a
// receiver files a delivery id once).
func foldDeliveryID(a *Alert, sink, key string, n int) string {
	id := a.ID + "." + sink + ".fold." + strconv.Itoa(n)
	for _, t := range a.Tickets {
		if t.Sink == sink {
			if t.Key == key {
				return id
			}
			break
		}
	}
	sum := sha256.Sum256([]byte(key))
	return id + "." + hex.EncodeToString(sum[:8])
}

// snowCodeTag is the start of ServiceNow's [code] and [/code] tags, in any
// case: in a journal field (work notes, comments) what stands between
// them is rendered as HTML.
var snowCodeTag = regexp.MustCompile(`(?i)\[(\s*/?\s*code)`)

// snowJournal returns text for a ServiceNow journal field with no [code]
// tag in it: the bracket of each becomes a parenthesis.
func snowJournal(text string) string { return snowCodeTag.ReplaceAllString(text, "($1") }

// errFoldRefused is an update of a folded alert's ticket the sink
// refused for good (refusedForGood): sent again, it gets the same answer.
var errFoldRefused = errors.New("alert: ticket update refused")

// tellFold sends update n of ticket key of the folded alert a.
func (s *Sink) tellFold(c *http.Client, a *Alert, key string, n int, now time.Time) error {
	req, err := s.foldRequest(a, key, n, now)
	if err != nil {
		return err
	}
	code, status, err := s.send(c, req)
	if err != nil {
		return err
	}
	if refusedForGood(code) {
		return fmt.Errorf("%w: ticket sink %q answered %s to update %d of %s", errFoldRefused, s.Name, status, n, key)
	}
	if code/100 != 2 {
		return fmt.Errorf("ticket sink %q answered %s to update %d of %s", s.Name, status, n, key)
	}
	return nil
}
