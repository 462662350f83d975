package audit

import (
	"strconv"
	"sync"
	"time"
	"unicode"

	"github.com/rs/zerolog"
)

// Failure classes of the audit path, as the log and Health name them.
const (
	FailUnreachable     = "unreachable"     // no HTTP answer: dial, TLS handshake, timeout
	FailUnauthenticated = "unauthenticated" // 401 or 403: wrong or missing token or client certificate
	FailRejected        = "rejected"        // 400, 413, 415, 422: the collector refused the batch itself; it is dropped
	FailUnavailable     = "unavailable"     // 408, 429, 5xx and other answers: retried later
	FailSpool           = "spool"           // the spool could not take or give back a batch
	// FailRefused is the collector refusing one batch for good although
	// the batch is well formed: 403 tenant_not_bound (this sidecar's
	// token is bound to tenants a record is not of), 409
	// batch_outside_window (too far behind this instance's newest stored
	// batch for the collector to tell it from one stored). It is dropped and
	// counted in Rejected; the batches before and after it are delivered.
	FailRefused = "refused"
)

var failClasses = [...]string{FailUnreachable, FailUnauthenticated, FailRejected, FailUnavailable, FailSpool, FailRefused}

// Health is the state of an Emitter's audit path, for /readyz.
type Health struct {
	Failing       bool      // the last delivery attempt failed
	LastFailure   string    // class and the collector's answer (or the error) of the last failure
	LastFailureAt time.Time // zero: never failed
	LastDelivery  time.Time // last batch the collector acknowledged; zero: none yet
	FailingSince  time.Time // first failure of the current run of failures
}

// String says the state in a few words.
func (h Health) String() string {
	switch {
	case h.Failing:
		return "failing since " + h.FailingSince.UTC().Format(time.RFC3339) + ": " + h.LastFailure
	case h.LastDelivery.IsZero() && h.LastFailureAt.IsZero():
		return "no batch sent yet"
	case h.LastFailureAt.IsZero():
		return "delivering, last batch acknowledged " + h.LastDelivery.UTC().Format(time.RFC3339)
	}
	return "delivering, last batch acknowledged " + h.LastDelivery.UTC().Format(time.RFC3339) +
		"; last failure " + h.LastFailureAt.UTC().Format(time.RFC3339) + ": " + h.LastFailure
}

// Health returns the state of the audit path.
func (e *Emitter) Health() Health {
	e.alarm.mu.Lock()
	defer e.alarm.mu.Unlock()
	return e.alarm.health
}

// alarm logs the audit path's failures: the first of each class at once,
// then at most one line per class per interval carrying how many went
// unlogged, so a collector that rejects every batch is visible in the log
// without flooding it (issue 13, item 7). A delivery after failures logs
// the recovery once. It never logs the token or a record.
type alarm struct {
	log   zerolog.Logger
	every time.Duration

	mu         sync.Mutex // guards the following fields
	health     Health
	lastLog    [len(failClasses)]time.Time
	suppressed [len(failClasses)]int
}

// failed records a failure of class with detail (the collector's answer
// or the error), logging it unless its class logged within the interval.
func (a *alarm) failed(class, detail string) {
	now := time.Now()
	a.mu.Lock()
	if !a.health.Failing && class != FailSpool {
		a.health.Failing, a.health.FailingSince = true, now
	}
	a.health.LastFailure, a.health.LastFailureAt = class+": "+detail, now
	i := classIndex(class)
	if !a.lastLog[i].IsZero() && now.Sub(a.lastLog[i]) < a.every {
		a.suppressed[i]++
		a.mu.Unlock()
		return
	}
	skipped := a.suppressed[i]
	a.lastLog[i], a.suppressed[i] = now, 0
	a.mu.Unlock()
	ev := a.log.Warn()
	if class == FailRejected || class == FailSpool || class == FailRefused {
		ev = a.log.Error()
	}
	ev.Str("class", class).Str("answer", detail).Int("unlogged_since_last", skipped).
		Msg("audit path failing: " + advice(class))
}

// delivered records an acknowledged batch, logging the recovery after
// failures.
func (a *alarm) delivered() {
	now := time.Now()
	a.mu.Lock()
	was, since := a.health.Failing, a.health.FailingSince
	a.health.Failing, a.health.LastDelivery = false, now
	a.mu.Unlock()
	if was {
		a.log.Info().Dur("failed_for", now.Sub(since)).Msg("audit collector acknowledging batches again")
	}
}

func classIndex(class string) int {
	for i, c := range failClasses {
		if c == class {
			return i
		}
	}
	return len(failClasses) - 1
}

// advice names what an operator can do about a failure class.
func advice(class string) string {
	switch class {
	case FailUnreachable:
		return "collector unreachable; batches spool (check --collector, the network, --collector-cacert)"
	case FailUnauthenticated:
		return "collector refused our credentials; batches spool (check --collector-token-file or --collector-cert)"
	case FailRejected:
		return "collector rejected a batch as invalid; it is dropped and counted"
	case FailRefused:
		return "collector refused a batch for good (see its answer: tenant_not_bound, a tenant this sidecar's token is not bound to in the collector's --token-file; batch_outside_window, a batch too old to tell from one stored); it is dropped and counted"
	case FailSpool:
		return "audit spool problem"
	}
	return "collector did not take the batch; retrying"
}

// answer renders an HTTP answer for the log: the status and at most 200
// bytes of the body, printable characters only.
func answer(code int, body []byte) string {
	if len(body) > 200 {
		body = body[:200]
	}
	out := make([]rune, 0, len(body))
	for _, r := range string(body) {
		if unicode.IsPrint(r) {
			out = append(out, r)
		}
	}
	return strconv.Itoa(code) + " " + string(out)
}
