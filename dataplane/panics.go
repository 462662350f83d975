package dataplane

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
)

// A recovered panic is logged by its type and the place it was raised,
// never by its value: the value is whatever the code that panicked put in
// it, and that may be request bytes or a secret (a sink's
// panic(fmt.Sprintf("... %s", token)), an error quoting a header line),
// while nothing the client sent goes into a log line (issue 12,
// TestPanicLogHoldsNoValue). The log call itself is made under a
// recover: a log writer that panics would otherwise panic inside the
// recovery, and a panic there ends the process (TestPanicLogWriterPanicKeepsServing).
// The panic was counted before it is logged, so a log that fails loses
// the line and nothing else.

// logPanic logs msg at error level for the panic p, recovered by the
// deferred function that calls it: the panic's type, where it was raised
// (panicAt), and the fields add sets (nil: none). A panic of the log
// call is dropped.
func logPanic(l *zerolog.Logger, p any, msg string, add func(*zerolog.Event) *zerolog.Event) {
	defer dropPanic()
	ev := l.Error().Str("panic_type", fmt.Sprintf("%T", p)).Str("panic_at", panicAt())
	if add != nil {
		ev = add(ev)
	}
	ev.Msg(msg)
}

// dropPanic recovers and drops a panic of a log call made while handling
// another panic (logPanic).
func dropPanic() { _ = recover() }

// panicAt names the frame that raised the panic being recovered, as
// "function file.go:line": the first frame below runtime.gopanic that is
// not the runtime's own (a nil dereference or an index out of range
// passes through runtime.sigpanic or runtime.goPanicIndex). It must be
// called from the deferred function that recovers, before it returns:
// the panicking frames are on the stack until then. "unknown" when no
// panic is on the stack.
func panicAt() string {
	var pcs [64]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs[:])])
	below := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			below = true
		case below && !strings.HasPrefix(f.Function, "runtime."):
			return f.Function + " " + filepath.Base(f.File) + ":" + strconv.Itoa(f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

// logged writes ev with msg, for a log call made outside any recover: a
// policy swap's (on the writer's goroutine: the etcd watch in the
// sidecar), the JWKS fetches' (their own goroutines), the hmac secret
// check's, Serve's and Drain's. A log writer that panics there ended the
// process; the panic is counted in portcullis_panics_total and the line
// dropped (TestPolicySwapLogPanicKeepsServing). Event methods only add
// fields to a buffer; the write, and so the panic, is in Msg.
func (s *Server) logged(ev *zerolog.Event, msg string) {
	defer s.countLogPanic()
	ev.Msg(msg)
}

// countLogPanic recovers a panic of logged's log call and counts it.
func (s *Server) countLogPanic() {
	if recover() != nil {
		s.metrics.panics.Add(1)
	}
}
