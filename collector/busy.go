package collector

import (
	"fmt"
	"net/http"
	"time"
)

// Answers to a request the collector has no room for: 503 collector_busy,
// the connection closed, what is left of its body read for a bounded time.

// busy answers 503 collector_busy, at once, to a request whose body
// would take more than the in-flight budget has left, and closes its
// connection: what is left of the body is read for at most closeDrain
// (BoundDrain), not until the read timeout as a stalled sender would have
// it. The sender retries after Retry-After, from its spool.
func (c *Collector) busy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Connection", "close")
	c.fail(w, r, rejectBusy, http.StatusServiceUnavailable, "collector_busy",
		fmt.Sprintf("the batches being read hold the collector's in-flight budget of %d bytes (--max-inflight-bytes); retry", c.cfg.MaxInflightBytes))
	BoundDrain(w)
}

// BoundDrain bounds to closeDrain the read of what is left of the
// request's body once w's answer is written, on a connection the answer
// closes (Connection: close); call it when the handler is done reading.
// The server writes the answer, then reads what is left of the body (up
// to 256 KiB) so that closing the connection does not reset it under an
// answer the client has yet to read; without a deadline that read waited
// the read timeout (1 min) on a client that declared a body and sent
// none, which so held its connection, unauthenticated too, for a minute
// after its 401 (TestUnauthenticatedDeclaredBodyDoesNotHoldConnection).
func BoundDrain(w http.ResponseWriter) {
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(closeDrain))
}

// closeDrain is how long the rest of a body is read (and discarded)
// after an answer that closes its connection.
const closeDrain = 500 * time.Millisecond

// senderConns is the most connections one sender holds: half of
// maxConns when another sender can send (a second token, client
// certificates), as one sender holds at most half the in-flight budget;
// no cap (0) when only one sender can, whose connections are all there is.
func senderConns(cfg Config, maxConns int) int {
	tokens := len(cfg.Tokens)
	if cfg.Token != "" {
		tokens++
	}
	if tokens < 2 && !cfg.ClientCertAuth {
		return 0
	}
	return max(maxConns/2, 1)
}

// senderBusy answers 503 collector_busy, and closes the connection, to a
// sender that authenticated on a new connection while it holds its share
// of --max-conns: it sends on those it holds.
func (c *Collector) senderBusy(w http.ResponseWriter, r *http.Request, sender string) {
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Connection", "close")
	c.fail(w, r, rejectBusy, http.StatusServiceUnavailable, "collector_busy",
		fmt.Sprintf("sender %s holds %d connections, its share of the collector's %d (--max-conns); send on those", sender, c.conns.perSender, c.cfg.MaxConns))
	BoundDrain(w)
}
