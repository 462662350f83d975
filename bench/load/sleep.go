package load

import (
	"time"

	"golang.org/x/sys/unix"
)

// sleepUntil returns at t, within tens of microseconds. time.Sleep is not
// precise enough for an open-loop schedule with sub-millisecond intervals:
// the runtime's netpoller waits in whole milliseconds, so a 300 µs sleep on
// an idle process takes about 1 ms (measured on linux/amd64, Go 1.26), which
// would be charged to every target as latency. Waits longer than 2 ms sleep
// on the runtime timer first; the rest is an absolute clock_nanosleep on the
// calling thread with a 1 ns timer slack (the default slack is 50 µs).
func sleepUntil(t time.Time) {
	if d := time.Until(t) - 2*time.Millisecond; d > 0 {
		time.Sleep(d)
	}
	d := time.Until(t)
	if d <= 0 {
		return
	}
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	var now unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &now) != nil {
		time.Sleep(d)
		return
	}
	at := unix.NsecToTimespec(unix.TimespecToNsec(now) + int64(d))
	for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &at, nil) == unix.EINTR {
	}
}

// SleepUntil is sleepUntil, for probes of the host's timer (bench/lagprobe).
func SleepUntil(t time.Time) { sleepUntil(t) }
