package alert

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/portcullis/portcullis/collector"
)

// Bounds of an Alertmanager payload the collector accepts.
const (
	maxAlertmanagerBody   = 1 << 20
	maxAlertmanagerAlerts = 1000
	maxLabelBytes         = 256
)

// amPayload is the Alertmanager webhook payload, version 4
// (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
type amPayload struct {
	Version  string    `json:"version"`
	GroupKey string    `json:"groupKey"`
	Status   string    `json:"status"`
	Receiver string    `json:"receiver"`
	Alerts   []amAlert `json:"alerts"`
}

type amAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	Fingerprint string            `json:"fingerprint"`
}

// ErrAlertmanagerPayload is returned for a payload that is not a version
// 4 Alertmanager webhook body within the collector's bounds.
var ErrAlertmanagerPayload = errors.New("alert: invalid Alertmanager payload")

// parseAlertmanager decodes and checks a payload.
func parseAlertmanager(body []byte) (*amPayload, error) {
	var p amPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAlertmanagerPayload, err)
	}
	switch {
	case p.Version != "4":
		return nil, fmt.Errorf("%w: version %q, want \"4\"", ErrAlertmanagerPayload, p.Version)
	case len(p.Alerts) > maxAlertmanagerAlerts:
		return nil, fmt.Errorf("%w: %d alerts, at most %d", ErrAlertmanagerPayload, len(p.Alerts), maxAlertmanagerAlerts)
	}
	for i := range p.Alerts {
		if p.Alerts[i].Fingerprint == "" || p.Alerts[i].Labels["alertname"] == "" {
			return nil, fmt.Errorf("%w: alert %d has no fingerprint or alertname", ErrAlertmanagerPayload, i)
		}
	}
	return &p, nil
}

// clip bounds a label value from outside, cutting at a character
// boundary: a half character would be kept in memory but stored in the
// trail as U+FFFD (JSON), and the replayed alert would no longer match.
func clip(s string) string {
	if len(s) <= maxLabelBytes {
		return s
	}
	n := maxLabelBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Alertmanager takes an Alertmanager webhook body: each firing alert
// enters the same lifecycle as a detection (rule "alertmanager:<alertname>",
// grouped by fingerprint, so a repeated notification grows one alert).
// A resolved alert changes nothing: closing is a person's decision. It
// returns the number of firing alerts taken.
func (e *Engine) Alertmanager(body []byte, now time.Time) (int, error) {
	p, err := parseAlertmanager(body)
	if err != nil {
		return 0, err
	}
	e.mu.Lock()
	var out []collector.Event
	n := 0
	for i := range p.Alerts {
		a := &p.Alerts[i]
		if a.Status != "firing" {
			continue
		}
		r := amRule(a)
		s := subject{tenant: clip(a.Labels["tenant"]), client: clip(a.Labels["client"])}
		out = e.fireLocked(r, clip(a.Fingerprint), s, now, 1, &group{lastUpdate: now}, out)
		n++
	}
	e.mu.Unlock()
	e.flush(out)
	return n, nil
}

// amRule is the rule an Alertmanager alert stands under.
func amRule(a *amAlert) *Rule {
	sev := a.Labels["severity"]
	switch sev {
	case "low", "medium", "high", "critical":
	case "warning":
		sev = "medium"
	default:
		sev = "high"
	}
	return &Rule{Name: "alertmanager:" + clip(a.Labels["alertname"]), Kind: "alertmanager", Group: "fingerprint",
		Severity: sev, Action: "notify", Window: time.Minute}
}

// AlertmanagerHandler serves POST /v1/alertmanager for e: a bearer token
// among tokens (compared by digest in constant time) is required, the body
// is bounded, errors are the collector's JSON shape.
func AlertmanagerHandler(e *Engine, tokens []string) http.Handler {
	digests := make([][32]byte, len(tokens))
	for i, t := range tokens {
		digests[i] = sha256.Sum256([]byte(t))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			amFail(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
			return
		}
		if !bearerOK(r, digests) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="portcullis-collector"`)
			amFail(w, r, http.StatusUnauthorized, "unauthenticated", "a valid bearer token is required")
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxAlertmanagerBody+1))
		switch {
		case err != nil:
			// A body that ended before its length was answered 413 "at
			// most 1 MiB" (read100, TestAlertmanagerErrorShape).
			amFail(w, r, http.StatusBadRequest, "bad_request", "the body ended before its end (cut short or too slow): "+err.Error())
			return
		case len(body) > maxAlertmanagerBody:
			amFail(w, r, http.StatusRequestEntityTooLarge, "payload_too_large", "at most 1 MiB")
			return
		}
		if _, err := e.Alertmanager(body, time.Now()); err != nil {
			amFail(w, r, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
}

func bearerOK(r *http.Request, digests [][32]byte) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return false
	}
	d := sha256.Sum256([]byte(tok))
	found := 0
	for i := range digests {
		found |= subtle.ConstantTimeCompare(d[:], digests[i][:])
	}
	return found == 1
}

// amFail answers the collector's JSON error shape, its request_id the
// caller's X-Request-ID when well formed, else am-N (it had none).
func amFail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	collector.WriteError(w, r, status, code, msg, "am-"+strconv.FormatUint(amSeq.Add(1), 10))
}

// amSeq numbers the webhook's answers that carry no request id.
var amSeq atomic.Uint64
