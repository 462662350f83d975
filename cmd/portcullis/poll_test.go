package main

import (
	"testing"
	"time"
)

// pollWait bounds a poll: a deadline for a condition on a loaded, shared
// machine, not a speed assertion.
const pollWait = 60 * time.Second

// pollUntil polls cond until it holds, failing tb after wait with what and
// what the last poll saw. It is the one poll loop of these tests.
func pollUntil(tb testing.TB, wait time.Duration, what string, cond func() (ok bool, last string)) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if last != "" {
				tb.Fatalf("timed out waiting for %s; last saw %s", what, last)
			}
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// poll is pollUntil for a condition with nothing to report, within
// pollWait.
func poll(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	pollUntil(tb, pollWait, what, func() (bool, string) { return cond(), "" })
}
