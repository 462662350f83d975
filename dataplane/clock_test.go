package dataplane

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// Config.Clock is the request path's wall clock: a key valid only in a
// simulated future is admitted once the clock reaches it, and refused
// after its not_after, and each audit record is dated by the clock, not
// by the arrival time. The real clock stays years away throughout.
func TestConfigClockDatesRecordsAndKeys(t *testing.T) {
	t.Parallel()
	day := time.Date(2031, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := newSimClock(day.Add(-time.Hour))
	st := startStack(t, func(c *Config) { c.Clock = clock.now })
	k, spec := mustKey(t, "acme-hris", day, day.Add(24*time.Hour))
	swapWithKeys(t, st.store, loadExample(t).Doc, spec)

	steps := []struct {
		at       time.Time
		status   int
		decision audit.Decision
	}{
		{day.Add(-time.Second), 401, audit.Unauthenticated},
		{day, 200, audit.Allowed},
		{day.Add(23 * time.Hour), 200, audit.Allowed},
		{day.Add(24 * time.Hour), 401, audit.Unauthenticated},
	}
	for _, s := range steps {
		clock.set(s.at)
		if r := do(t, st.addr, "GET", "/v1/users/42", key(k), ""); r.status != s.status {
			t.Fatalf("at %s: status %d, want %d (%s)", s.at, r.status, s.status, r.body)
		}
		rec := st.sink.last(t)
		if got := time.Unix(0, rec.Time).UTC(); !got.Equal(s.at) || rec.Decision != s.decision {
			t.Errorf("at %s: record dated %s, %s; want %s, %s", s.at, got, rec.Decision, s.at, s.decision)
		}
	}
}

// TestClockPanicKeepsServing: the handler and errorHandler read
// Config.Clock first, and read it before their recover was in place: a
// clock that panicked ended the process. Now each request is answered
// 500 internal_error, recorded at the real time, the panic counted, and
// the sidecar serves on.
func TestClockPanicKeepsServing(t *testing.T) {
	var armed atomic.Bool
	st := startStack(t, func(c *Config) {
		c.MaxHeaderBytes = 4096
		c.Clock = func() time.Time {
			if armed.CompareAndSwap(true, false) {
				panic("clock exploded")
			}
			return time.Now()
		}
	})
	get := map[string]string{"X-API-Key": hrisKey, "X-Request-ID": "clock-panic"}
	huge := "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-Request-ID: clock-panic-big\r\nX-Big: " + strings.Repeat("a", 8000) + "\r\n\r\n"
	for i, send := range []func() reply{
		func() reply { return do(t, st.addr, "GET", "/v1/users/7", get, "") },
		func() reply { return raw(t, st.addr, huge) }, // errorHandler: 431 had the clock not panicked
	} {
		armed.Store(true)
		before := time.Now()
		if r := send(); r.status != 500 || r.errorBody(t).Error != "internal_error" {
			t.Fatalf("request %d, clock panicked: answer %d %q, want 500 internal_error", i, r.status, r.body)
		}
		if armed.Load() {
			t.Fatalf("request %d never read the clock", i)
		}
		rec := st.sink.last(t)
		if rec.Decision != audit.InternalError || rec.Time < before.UnixNano() {
			t.Errorf("request %d recorded %v at %d, want internal_error at the real time (after %d)", i, rec.Decision, rec.Time, before.UnixNano())
		}
		if r := do(t, st.addr, "GET", "/v1/users/7", key(hrisKey), ""); r.status != 200 {
			t.Fatalf("after request %d: answer %d %q, want 200", i, r.status, r.body)
		}
	}
	if n := st.srv.metrics.panics.Load(); n != 2 {
		t.Errorf("panics counted %d, want 2", n)
	}
}
