package collector

import (
	"log"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// serverLog is the ErrorLog of the collector's HTTP servers. net/http
// reports through it what goes wrong with a connection outside any
// handler: each failed TLS handshake, and each accept error it retries
// (out of file descriptors, EMFILE). Without one it wrote them to stderr
// as plain text, one line a connection at whatever rate a peer without a
// credential chose (TestTLSHandshakeErrorsLoggedAsJSONAndCounted). Here
// each is counted (portcullis_collector_connection_errors_total) and
// logged as a JSON warn line, at most one a second, naming how many were
// left out since the last. net/http's texts name the peer's address and
// the error, never bytes the peer sent.
type serverLog struct {
	log    zerolog.Logger
	now    func() time.Time
	errors atomic.Uint64

	mu    sync.Mutex // guards the following fields
	last  time.Time  // when a line was last written
	quiet int        // errors not logged since then
}

// logger returns the *log.Logger for http.Server.ErrorLog.
func (s *serverLog) logger() *log.Logger { return log.New(s, "", 0) }

// Write takes one message of net/http's (log.Logger calls it once a
// message).
func (s *serverLog) Write(p []byte) (int, error) {
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
	s.log.Warn().Str("error", msg).Int("suppressed", quiet).Msg("collector connection error (net/http; an accept error is retried)")
	return len(p), nil
}
