// Package serverlog is the ErrorLog of Portcullis's net/http servers (the
// collector's intake and metrics listeners, the injector's webhook).
// net/http reports through it what goes wrong with a connection outside
// any handler: each failed TLS handshake, and each accept error it
// retries (out of file descriptors, EMFILE). Without one it wrote them to
// stderr as plain text, one line a connection, at whatever rate a peer
// without a credential chose. Here each is counted and logged as a JSON
// warn line, at most one a second, naming how many were left out since
// the last. net/http's texts name the peer's address and the error, never
// bytes the peer sent.
package serverlog

import (
	"log"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Log counts and logs the messages of a server's ErrorLog.
type Log struct {
	log    zerolog.Logger
	now    func() time.Time
	msg    string
	errors atomic.Uint64

	mu    sync.Mutex // guards the following fields
	last  time.Time  // when a line was last written
	quiet int        // errors not logged since then
}

// New returns a Log writing to log with message msg, on the clock now
// (nil: time.Now).
func New(log zerolog.Logger, now func() time.Time, msg string) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{log: log, now: now, msg: msg}
}

// Logger returns the *log.Logger for http.Server.ErrorLog.
func (s *Log) Logger() *log.Logger { return log.New(s, "", 0) }

// Errors returns how many messages were written, logged or not.
func (s *Log) Errors() uint64 { return s.errors.Load() }

// Write takes one message of net/http's (log.Logger calls it once a
// message).
func (s *Log) Write(p []byte) (int, error) {
	s.errors.Add(1)
	now := s.now()
	s.mu.Lock()
	if !s.last.IsZero() && now.Sub(s.last) < time.Second {
		s.quiet++
		s.mu.Unlock()
		return len(p), nil
	}
	quiet := s.quiet
	s.last, s.quiet = now, 0
	s.mu.Unlock()
	msg := strings.TrimPrefix(strings.TrimSpace(string(p)), "http: ")
	s.log.Warn().Str("error", msg).Int("suppressed", quiet).Msg(s.msg)
	return len(p), nil
}
