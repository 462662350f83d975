package limiter

import "time"

// start anchors the limiter clock; time.Since reads the monotonic clock.
var start = time.Now()

// Now returns the limiter clock: monotonic nanoseconds since process start.
// All *At methods take now in this unit.
func Now() int64 {
	return int64(time.Since(start))
}
