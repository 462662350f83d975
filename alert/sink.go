package alert

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// Sink is a ticket sink of the policy with its secret resolved.
type Sink struct {
	Name, Kind, URL, Project string
	secret                   []byte
}

// ResolveSecret reads a secret reference: env:NAME or file:PATH (one
// trailing newline cut). The secret itself never appears in the policy.
func ResolveSecret(ref string) ([]byte, error) {
	switch {
	case ref == "":
		return nil, nil
	case strings.HasPrefix(ref, "env:"):
		v, ok := os.LookupEnv(ref[4:])
		if !ok || v == "" {
			return nil, fmt.Errorf("secret %s: environment variable %s is not set", ref, ref[4:])
		}
		return []byte(v), nil
	case strings.HasPrefix(ref, "file:"):
		// A FIFO here froze the collector's start in open(2); a huge
		// file was read whole.
		b, err := durable.ReadRegularMax(ref[5:], durable.MaxSecretBytes)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", ref, err)
		}
		return bytes.TrimSuffix(b, []byte("\n")), nil
	}
	return nil, fmt.Errorf("secret reference %q: want env:NAME or file:PATH", ref)
}

// NewSinks resolves the ticket sinks of a policy. A sink whose secret
// cannot be read is left out and named in the error, so that the
// collector keeps storing and detecting; its alerts are queued for it at
// the next start that can read the secret (Outbox.Reconcile).
func NewSinks(specs []policy.TicketSpec) ([]*Sink, error) {
	out := make([]*Sink, 0, len(specs))
	var errs []error
	for _, s := range specs {
		secret, err := ResolveSecret(s.Secret)
		if err != nil {
			errs = append(errs, fmt.Errorf("ticket sink %q left out: %w", s.Name, err))
			continue
		}
		u, err := sinkURL(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("ticket sink %q left out: %w", s.Name, err))
			continue
		}
		out = append(out, &Sink{Name: s.Name, Kind: s.Kind, URL: u, Project: s.Project, secret: secret})
	}
	return out, errors.Join(errs...)
}

// sinkURL is the URL of a sink: its url, or what its url reference
// (env:NAME, file:PATH) or url_file holds (a file's one trailing newline
// cut), which must be an https URL (http on loopback). The errors never
// quote the URL: a Slack incoming webhook's is its credential.
func sinkURL(s policy.TicketSpec) (string, error) {
	ref, from := s.URL, "url "+s.URL
	if s.URLFile != "" {
		ref, from = "file:"+s.URLFile, "url_file "+s.URLFile
	} else if !strings.HasPrefix(ref, "env:") && !strings.HasPrefix(ref, "file:") {
		return s.URL, nil
	}
	b, err := ResolveSecret(ref)
	if err != nil {
		return "", err
	}
	if u := string(b); policy.SecureURL(u) {
		return u, nil
	}
	return "", fmt.Errorf("%s does not hold an https URL (http only on loopback)", from)
}

// Headers of the generic webhook. The signature is scheme v2:
// "v2=" + hex(HMAC-SHA256(secret, timestamp + "\n" + delivery + "\n" +
// body)). It covers the delivery id (v1, "sha256=" over timestamp and
// body, did not: a captured delivery replayed under a new id passed a
// receiver's dedupe by id), and a header value holds no newline, so the
// three parts cannot be re-cut. A receiver refuses a timestamp too far
// from its clock and a delivery id it has seen, so a captured request
// cannot be replayed.
const (
	HeaderSignature = "X-Portcullis-Signature"
	HeaderTimestamp = "X-Portcullis-Timestamp"
	HeaderDelivery  = "X-Portcullis-Delivery"
	// HeaderIdempotencyKey carries the delivery id, quoted, to a webhook.
	HeaderIdempotencyKey = "Idempotency-Key"
)

// Sign returns the webhook signature of body sent at ts as delivery.
func Sign(secret []byte, ts int64, delivery string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'\n'})
	m.Write([]byte(delivery))
	m.Write([]byte{'\n'})
	m.Write(body)
	return "v2=" + hex.EncodeToString(m.Sum(nil))
}

// Errors of VerifyWebhook.
var (
	ErrBadSignature = errors.New("alert: webhook signature does not match")
	ErrStale        = errors.New("alert: webhook timestamp outside the allowed skew")
)

// VerifyWebhook checks a received webhook: the signature over the
// timestamp, delivery id and body, in constant time, and the timestamp
// within skew of now. A delivery without an id, or signed with another
// scheme than v2, is refused. Receivers also remember the delivery ids
// they have accepted.
func VerifyWebhook(secret []byte, h http.Header, body []byte, now time.Time, skew time.Duration) error {
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q", ErrStale, HeaderTimestamp, h.Get(HeaderTimestamp))
	}
	if d := now.Sub(time.Unix(ts, 0)); d > skew || d < -skew {
		return fmt.Errorf("%w: %s is %s from now", ErrStale, HeaderTimestamp, d.Round(time.Second))
	}
	id := h.Get(HeaderDelivery)
	if id == "" || !hmac.Equal([]byte(Sign(secret, ts, id, body)), []byte(h.Get(HeaderSignature))) {
		return ErrBadSignature
	}
	return nil
}

// request builds the HTTP request that files a for the sink at now.
func (s *Sink) request(a *Alert, now time.Time) (*http.Request, error) {
	body, err := s.payload(a)
	if err != nil {
		return nil, err
	}
	return s.newRequest(http.MethodPost, s.URL, a.ID+"."+s.Name, body, now)
}

// newRequest builds a request to the sink with body, the delivery id and
// what the sink's kind needs: the webhook's timestamp and signature, or
// the API's Accept header and credential.
func (s *Sink) newRequest(method, url, delivery string, body []byte, now time.Time) (*http.Request, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("ticket sink %q: %w", s.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderDelivery, delivery)
	switch s.Kind {
	case "webhook":
		ts := now.Unix()
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderSignature, Sign(s.secret, ts, delivery, body))
		// The delivery id again, as the IETF httpapi draft's
		// Idempotency-Key (a Structured Field string: quoted; an id holds
		// neither a quote nor a backslash), for a receiver that keys on
		// it: a delivery sent again (no answer in time, its queued file
		// refused after a key rotation) files nothing twice. The
		// signature covers the delivery id, not this header.
		req.Header.Set(HeaderIdempotencyKey, strconv.Quote(delivery))
	case "github":
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		s.authorize(req)
	case "jira", "servicenow":
		req.Header.Set("Accept", "application/json")
		s.authorize(req)
	}
	return req, nil
}

// authorize sets the API credential: "user:password" as Basic, anything
// else as a Bearer token.
func (s *Sink) authorize(req *http.Request) {
	switch {
	case len(s.secret) == 0:
	case bytes.IndexByte(s.secret, ':') > 0:
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(s.secret))
	default:
		req.Header.Set("Authorization", "Bearer "+string(s.secret))
	}
}

// summary is the one-line title of an alert in a ticket (a is plainAlert's),
// at most 255 characters: Jira refuses a longer summary, and the issue
// would never be filed.
func summary(a *Alert) string {
	s := fmt.Sprintf("[portcullis %s] %s: %s %s", a.Severity, a.Rule, a.Group, a.Key)
	if a.Folded > 0 {
		s = fmt.Sprintf("[portcullis %s] %s: %s groups past %d open alerts, folded", a.Severity, a.Rule, a.Group, maxOpenPerRule)
	}
	if r := []rune(s); len(r) > 255 {
		s = string(r[:254]) + "…"
	}
	return s
}

// description is the ticket body: the evidence, never a secret.
func description(a *Alert) string {
	var b strings.Builder
	WriteText(&b, a)
	return b.String()
}

// payload is the request body in the sink's published wire format. The
// webhook gets the alert as it is (JSON, for a program); the ticket
// systems get its text fields as plain text, escaped for their markup;
// every sink gets them with credentials redacted (sinkAlert).
func (s *Sink) payload(raw *Alert) ([]byte, error) {
	a := sinkAlert(raw, s.Kind)
	var v any
	switch s.Kind {
	case "webhook":
		v = struct {
			Event string `json:"event"`
			Alert *Alert `json:"alert"`
		}{ActionOpen, a}
	case "jira": // REST API v2, POST /rest/api/2/issue; the description is wiki markup
		v = map[string]any{"fields": map[string]any{
			"project": map[string]string{"key": s.Project}, "summary": summary(a), "description": jiraNoformat(description(a)),
			"issuetype": map[string]string{"name": "Task"}, "labels": []string{"portcullis", jiraLabel(a.Rule), s.deliveryLabel(a)}}}
	case "github": // POST /repos/{owner}/{repo}/issues; the body is Markdown
		v = map[string]any{"title": summary(a), "body": githubFenced(description(a)), "labels": []string{"portcullis", "severity:" + a.Severity}}
	case "servicenow": // Table API, POST /api/now/table/incident
		v = map[string]string{"short_description": summary(a), "description": description(a),
			"urgency": urgency(a.Severity), "impact": urgency(a.Severity), "assignment_group": s.Project, "correlation_id": a.ID}
	case "slack": // incoming webhook; its text shown literally (slackMessage)
		v = slackMessage(slackText(summary(a)), "alert "+slackText(a.ID)+", count "+strconv.FormatInt(a.Count, 10))
	default:
		return nil, fmt.Errorf("ticket sink %q: unknown kind %q", s.Name, s.Kind)
	}
	return json.Marshal(v)
}

// deliveryLabel is the Jira label naming the delivery of a to the sink,
// on the issue it creates: a retry after a create with no answer finds
// the issue by it (findIssue), as Jira has no idempotency key.
func (s *Sink) deliveryLabel(a *Alert) string {
	return jiraLabel("portcullis-" + a.ID + "." + s.Name)
}

// findIssue returns the key of the Jira issue created for a by an earlier
// try (searched by its delivery label), or "" when there is none. It asks
// Jira Cloud's search (GET /rest/api/2/search/jql) and, where that is
// not found (Data Center), GET /rest/api/2/search; the sink's URL is the
// create endpoint, .../rest/api/2/issue. A sink that has neither (404
// to both) cannot be asked, and "" lets the retry create the issue: a
// possible second issue rather than none.
func (s *Sink) findIssue(c *http.Client, a *Alert, now time.Time) (string, error) {
	q := url.Values{"jql": {`labels = "` + s.deliveryLabel(a) + `"`}, "fields": {"key"}, "maxResults": {"1"}}
	base := strings.TrimSuffix(strings.TrimSuffix(s.URL, "/"), "/issue") + "/search"
	for _, u := range []string{base + "/jql?" + q.Encode(), base + "?" + q.Encode()} {
		req, err := s.newRequest(http.MethodGet, u, a.ID+"."+s.Name+".search", nil, now)
		if err != nil {
			return "", err
		}
		resp, err := c.Do(req)
		if err != nil {
			return "", s.noAnswer(err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			continue // no enhanced search: Data Center
		}
		if resp.StatusCode/100 != 2 {
			return "", fmt.Errorf("ticket sink %q answered %s to the search for the issue of %s", s.Name, resp.Status, a.ID)
		}
		var r struct {
			Issues []struct {
				Key string `json:"key"`
			} `json:"issues"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return "", fmt.Errorf("ticket sink %q: search answer for the issue of %s: %w", s.Name, a.ID, err)
		}
		if len(r.Issues) > 0 {
			if etcdadmin.Blank(r.Issues[0].Key) {
				return "", fmt.Errorf("%w: ticket sink %q answered the search for the issue of %s with a key that has no visible character", ErrBlankTicketKey, s.Name, a.ID)
			}
			return r.Issues[0].Key, nil
		}
		return "", nil
	}
	return "", nil
}

// urgency maps a severity to ServiceNow's 1 (high) to 3 (low).
func urgency(sev string) string {
	switch sev {
	case "critical", "high":
		return "1"
	case "medium":
		return "2"
	}
	return "3"
}

// ticketKey reads the key of the created ticket from the sink's answer.
// A key the answer names with no visible character (blank, or only
// spaces and format characters such as a zero-width space:
// etcdadmin.Blank, as require_ticket reads a ticket) names no ticket
// anyone can find: the answer is a failed delivery, whose error never
// quotes the key.
func (s *Sink) ticketKey(a *Alert, status string, body []byte) (string, error) {
	var r struct {
		Key    *string `json:"key"`    // jira
		Number int64   `json:"number"` // github
		Result struct {
			Number *string `json:"number"` // servicenow
			SysID  *string `json:"sys_id"`
		} `json:"result"`
		Ticket *string `json:"ticket"` // generic webhook receivers may name theirs
	}
	json.Unmarshal(body, &r) // a sink that answers no JSON (slack: "ok") names no key
	for _, f := range []struct {
		name string
		v    *string
	}{{"key", r.Key}, {"result.number", r.Result.Number}, {"result.sys_id", r.Result.SysID}, {"ticket", r.Ticket}} {
		if f.v != nil && etcdadmin.Blank(*f.v) {
			return "", fmt.Errorf("%w: ticket sink %q answered %s to %s with a %s that has no visible character; not recorded, retried", ErrBlankTicketKey, s.Name, status, a.ID, f.name)
		}
	}
	switch {
	case r.Key != nil:
		return *r.Key, nil
	case r.Number != 0:
		return "#" + strconv.FormatInt(r.Number, 10), nil
	case r.Result.Number != nil && r.Result.SysID != nil:
		return *r.Result.Number + "/" + *r.Result.SysID, nil // the table API closes by sys_id
	case r.Result.Number != nil:
		return *r.Result.Number, nil
	case r.Ticket != nil:
		return *r.Ticket, nil
	}
	return a.ID + "." + s.Name, nil
}

// ErrBlankTicketKey is a sink's answer naming a ticket key without a
// visible character.
var ErrBlankTicketKey = errors.New("alert: blank ticket key")

// deliver sends a to the sink and returns the ticket key.
func (s *Sink) deliver(c *http.Client, a *Alert, now time.Time) (string, error) {
	req, err := s.request(a, now)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", s.noAnswer(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("ticket sink %q answered %s", s.Name, resp.Status)
	}
	return s.ticketKey(a, resp.Status, body)
}

// noAnswer is the error of a request the sink did not answer, without
// the request's URL, which Go's error quotes: a Slack incoming webhook's
// URL is its credential, and the error is logged.
func (s *Sink) noAnswer(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return &sinkFailure{fmt.Errorf("ticket sink %q: %w", s.Name, err)}
}

// closes reports whether the sink's API lets a closure reach ticket key:
// every kind but a ServiceNow key filed without its record's sys_id
// (NUMBER/SYS_ID), which the table API needs.
func (s *Sink) closes(key string) bool {
	return s.Kind != "servicenow" || snowSysID(key) != ""
}

// snowSysID is the sys_id part of a ServiceNow ticket key NUMBER/SYS_ID.
func snowSysID(key string) string {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[i+1:]
	}
	return ""
}

// snowClosed is the incident state "Closed" of ServiceNow's incident
// table (1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed, 8
// Canceled).
const snowClosed = "7"

// closeRequest builds the request that tells the ticket key of a that the
// alert is closed: the generic webhook gets a signed alert.close, Jira a
// comment, GitHub the issue closed, ServiceNow the incident closed with
// close notes, Slack a message; every text redacted (sinkAlert).
func (s *Sink) closeRequest(a *Alert, key string, now time.Time) (*http.Request, error) {
	p := sinkAlert(a, s.Kind)
	note := fmt.Sprintf("Alert %s closed by portcullis: %s (corrective action: %s)", p.ID, p.Note, p.CorrectiveAction)
	method, url := http.MethodPost, s.URL
	var v any
	switch s.Kind {
	case "jira", "github":
		// The key came in the ticket system's answer (or a receiver's
		// "ticket" field) and goes into the URL's path: "../x?" would
		// move the request elsewhere on the sink's host.
		if !pathSegment(strings.TrimPrefix(key, "#")) {
			return nil, fmt.Errorf("%w: ticket sink %q: ticket key %q is not one path segment (letters, digits, '-', '_', '.'); the ticket is not closed", ErrCloseRefused, s.Name, key)
		}
	}
	switch s.Kind {
	case "webhook":
		v = struct {
			Event string `json:"event"`
			Alert *Alert `json:"alert"`
		}{ActionClose, p}
	case "jira": // POST /rest/api/2/issue/{key}/comment; the body is wiki markup, so text in {noformat}
		url, v = strings.TrimSuffix(s.URL, "/")+"/"+key+"/comment", map[string]string{"body": jiraNoformat(note)}
	case "github": // PATCH /repos/{owner}/{repo}/issues/{number}
		method, url = http.MethodPatch, strings.TrimSuffix(s.URL, "/")+"/"+strings.TrimPrefix(key, "#")
		v = map[string]string{"state": "closed", "state_reason": "completed"}
	case "servicenow": // Table API, PATCH /api/now/table/incident/{sys_id}
		id := snowSysID(key)
		if !pathSegment(id) {
			return nil, fmt.Errorf("%w: ticket sink %q: servicenow ticket %q has no sys_id to close (one path segment: letters, digits, '-', '_', '.')", ErrCloseRefused, s.Name, key)
		}
		method, url = http.MethodPatch, strings.TrimSuffix(s.URL, "/")+"/"+id
		v = map[string]string{"state": snowClosed, "close_code": "Solved (Permanently)", "close_notes": note}
	case "slack":
		v = slackMessage(slackText(note))
	default:
		return nil, fmt.Errorf("ticket sink %q: kind %q cannot close tickets", s.Name, s.Kind)
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return s.newRequest(method, url, a.ID+"."+s.Name+".close", body, now)
}

// pathSegment reports whether key can stand as one segment of a URL path
// as it is: letters, digits, '-', '_' and '.', not "." or "..".
func pathSegment(key string) bool {
	if key == "" || key == "." || key == ".." {
		return false
	}
	for i := range len(key) {
		c := key[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// closeTicket sends the closure of a to its ticket key.
func (s *Sink) closeTicket(c *http.Client, a *Alert, key string, now time.Time) error {
	req, err := s.closeRequest(a, key, now)
	if err != nil {
		return err
	}
	code, status, err := s.send(c, req)
	if err != nil {
		return err
	}
	if code/100 != 2 {
		err := fmt.Errorf("ticket sink %q answered %s to the closure of %s", s.Name, status, key)
		if refusedForGood(code) {
			err = fmt.Errorf("%w: %w", ErrCloseRefused, err)
		}
		return err
	}
	return nil
}

// send sends req, a closure or an update, and returns the status of the
// answer, whose body it reads (up to 64 KiB) and closes; an error when no
// answer came.
func (s *Sink) send(c *http.Client, req *http.Request) (code int, status string, err error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", s.noAnswer(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, resp.Status, nil
}

// ErrCloseRefused is a closure the sink refused for good, or that cannot
// be sent (a ticket key that is not one path segment): trying again
// would get the same answer.
var ErrCloseRefused = errors.New("alert: ticket closure refused")

// refusedForGood reports whether status is a permanent refusal: a 4xx
// other than 408 Request Timeout and 429 Too Many Requests (RFC 9110
// 15.5, RFC 6585 4), which the same request may pass later.
func refusedForGood(status int) bool {
	return status/100 == 4 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
}
