package dataplane

import (
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/limiter"
)

// clock gives a request that has no arrival time from fasthttp (the error
// handler, contexts not served by a fasthttp.Server) one monotonic reading
// and derives its wall time from it: time.Now reads two clocks, and the
// monotonic one alone costs about half as much. The wall offset is re-read
// once a second, so a stepped wall clock shows in the audit times within a
// second.
type clock struct {
	offset atomic.Int64 // unix nanoseconds minus the limiter clock
	next   atomic.Int64 // limiter clock at which to re-read the offset

	wall func() time.Time // Config.Clock; nil: the real clock
}

// now returns the limiter clock and the unix nanoseconds of one instant.
func (c *clock) now() (mono, wall int64) {
	mono = limiter.Now()
	if c.wall != nil {
		return mono, c.wall().UnixNano()
	}
	if mono >= c.next.Load() {
		c.rebase(mono)
	}
	return mono, mono + c.offset.Load()
}

func (c *clock) rebase(mono int64) {
	t := time.Now()
	c.offset.Store(t.UnixNano() - limiter.At(t))
	c.next.Store(mono + int64(time.Second))
}
