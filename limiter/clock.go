package limiter

import "time"

// start anchors the limiter clock; time.Since reads the monotonic clock.
var start = time.Now()

// Now returns the limiter clock: monotonic nanoseconds since process start.
// All *At methods take now in this unit.
func Now() int64 {
	return int64(time.Since(start))
}

// At returns the limiter clock at t, which must carry a monotonic clock
// reading (a time from time.Now). A caller that already read the clock for
// the request saves a second read.
func At(t time.Time) int64 { return int64(t.Sub(start)) }
