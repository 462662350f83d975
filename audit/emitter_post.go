package audit

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	// postTimeout bounds one delivery attempt: dial, TLS handshake,
	// writing the batch and reading the answer (EmitterConfig.postTimeout
	// for tests).
	postTimeout = 10 * time.Second
	// maxAnswer is how much of the collector's answer is read. An answer
	// is an empty ExportLogsServiceResponse or a short JSON error; a
	// longer one still yields its status (see post).
	maxAnswer = 64 << 10
	// maxAnswerShown is how much of a failed answer the alarm quotes.
	maxAnswerShown = 512
)

// poster sends encoded batches to the collector with fasthttp's client
// over a kept-alive connection, through one request and one response that
// it reuses: a batch goes out from the batch buffer itself, so delivering
// one leaves no garbage behind (issue 18: net/http's per-request garbage,
// a 32 KiB copy buffer among it, doubled the sidecar's heap between
// collections). Only the sender goroutine uses it.
type poster struct {
	hc      *fasthttp.HostClient
	timeout time.Duration
	req     fasthttp.Request
	resp    fasthttp.Response
	// resent says the last post sent its batch a second time (retryOnce):
	// an answer that it is a duplicate may be of the first.
	resent bool
	// replay, when not 0, is sent as HeaderReplay with the next post
	// (replayFile); replayHex holds it in hex.
	replay    uint64
	replayHex [16]byte

	// cut, once set (cutAt, by Close), is when every attempt ends: the
	// one in flight, through the deadlines of its connections, and each
	// later one. Close's CloseTimeout was checked only between attempts
	// of the post timeout each, so a collector that accepted and never
	// answered held a stopping sidecar 35 s, past its pod's grace period
	// (TestEmitterCloseBoundedByCloseTimeoutOnHungCollector).
	mu    sync.Mutex
	cut   time.Time
	conns map[*cutConn]struct{}
}

// cutConn is a connection to the collector whose deadlines end no later
// than its poster's cut.
type cutConn struct {
	net.Conn
	p *poster
}

func (c *cutConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.p.clamp(t)) }
func (c *cutConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.p.clamp(t)) }
func (c *cutConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.p.clamp(t)) }

func (c *cutConn) Close() error {
	c.p.mu.Lock()
	delete(c.p.conns, c)
	c.p.mu.Unlock()
	return c.Conn.Close()
}

// clamp returns t, or the cut when it comes first (t zero: no deadline).
func (p *poster) clamp(t time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cut.IsZero() && (t.IsZero() || p.cut.Before(t)) {
		return p.cut
	}
	return t
}

// dial opens a connection to the collector within timeout (what is left
// of the attempt, or the post timeout), and within the cut.
func (p *poster) dial(addr string, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 || timeout > p.timeout {
		timeout = p.timeout
	}
	if cut := p.clamp(time.Time{}); !cut.IsZero() {
		timeout = min(timeout, time.Until(cut))
	}
	if timeout <= 0 {
		return nil, fasthttp.ErrDialTimeout
	}
	conn, err := fasthttp.DialDualStackTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	c := &cutConn{Conn: conn, p: p}
	p.mu.Lock()
	p.conns[c] = struct{}{}
	cut := p.cut
	p.mu.Unlock()
	if !cut.IsZero() {
		conn.SetDeadline(cut)
	}
	return c, nil
}

// cutAt ends every attempt at t: the deadlines of the open connections
// move to t now, and those set later are held to it.
func (p *poster) cutAt(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = t
	for c := range p.conns {
		c.Conn.SetDeadline(t) // the pending read or write of an attempt in flight too
	}
}

// urlProblem says what is wrong with a URL that did not parse without
// quoting it: url.Parse's errors hold the whole URL (with its user
// information) and an escape error the characters of the bad escape.
func urlProblem(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var esc url.EscapeError
	if errors.As(err, &esc) {
		return "invalid %-escape"
	}
	return err.Error()
}

// newPoster prepares the request to rawURL+"/v1/logs": TLS (with tlsCfg,
// nil meaning the system roots) for an https URL, the bearer token when
// set, else basic authentication from the URL's user information, as
// net/http does.
func newPoster(rawURL, token string, tlsCfg *tls.Config, timeout time.Duration) (*poster, error) {
	if !strings.Contains(rawURL, "://") {
		// "127.0.0.1:4318" failed with url's "first path segment in URL
		// cannot contain colon", and "user:pw@host:4318" parsed with the
		// scheme "user", its password then quoted in the error
		// (TestCollectorURLNamesTheMistake).
		return nil, fmt.Errorf("audit: the collector URL (not shown: it may hold a password) needs http:// or https:// before the host: http://HOST:PORT")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("audit: cannot parse the collector URL (not shown: it may hold a password): %s", urlProblem(err))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("audit: collector URL %q needs http:// or https:// and a host", u.Redacted())
	}
	if strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/v1/logs") {
		// Batches went to /v1/logs/v1/logs: a 404 each, spooled and
		// counted unavailable until someone looked.
		return nil, fmt.Errorf("audit: collector URL %q ends in /v1/logs: give the collector's base URL (batches go to it + /v1/logs)", u.Redacted())
	}
	isTLS := u.Scheme == "https"
	p := &poster{timeout: timeout, hc: &fasthttp.HostClient{
		Addr: fasthttp.AddMissingPort(u.Host, isTLS), IsTLS: isTLS, TLSConfig: tlsCfg,
		Name: "portcullis-audit",
		// p.dial dials both address families, for a collector reached
		// over IPv6 only, as net/http does.
		MaxConns:    2,
		ReadTimeout: timeout, WriteTimeout: timeout,
		MaxResponseBodySize:       maxAnswer,
		MaxIdemponentCallAttempts: 2,
		SecureErrorLogMessage:     true, // a parse error must not quote our headers (the token)
	}}
	p.hc.RetryIfErr = p.retryOnce
	p.hc.DialTimeout = p.dial
	p.conns = map[*cutConn]struct{}{}
	p.req.Header.SetMethod(fasthttp.MethodPost)
	p.req.Header.SetContentType(contentTypeProtobuf)
	p.req.SetRequestURI(u.Scheme + "://" + u.Host + u.EscapedPath() + "/v1/logs")
	switch {
	case token != "":
		p.req.Header.Set("Authorization", "Bearer "+token)
	case u.User != nil:
		pass, _ := u.User.Password()
		p.req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass)))
	}
	return p, nil
}

// retryOnce lets fasthttp send a batch a second time when writing it or
// reading the answer failed, which is how a kept-alive connection the
// collector closed while idle shows (net/http retries those the same
// way). A batch is idempotent: the collector stores a batch id once.
func (p *poster) retryOnce(_ *fasthttp.Request, attempts int, _ error) (resetTimeout, retry bool) {
	retry = attempts < 2
	p.resent = p.resent || retry
	return false, retry
}

// post sends data and returns the answer's status and (at most
// maxAnswerShown bytes of) its body, valid until the next post. An answer
// whose body exceeds maxAnswer still counts by its status.
func (p *poster) post(data []byte) (int, []byte, error) {
	p.req.SetBodyRaw(data)
	p.resent = false
	if p.replay != 0 {
		var raw [8]byte
		binary.BigEndian.PutUint64(raw[:], p.replay)
		hex.Encode(p.replayHex[:], raw[:])
		p.req.Header.SetBytesV(HeaderReplay, p.replayHex[:])
	}
	timeout := p.timeout
	if cut := p.clamp(time.Time{}); !cut.IsZero() {
		timeout = max(min(timeout, time.Until(cut)), 0)
	}
	err := p.hc.DoTimeout(&p.req, &p.resp, timeout)
	if p.replay != 0 {
		p.req.Header.Del(HeaderReplay)
	}
	p.req.SetBodyRaw(nil) // keep no reference to the batch buffer
	// ErrBodyTooLarge comes only after the status line and headers were
	// read, so the status is the collector's.
	if err != nil && !errors.Is(err, fasthttp.ErrBodyTooLarge) {
		return 0, nil, err
	}
	body := p.resp.Body()
	if len(body) > maxAnswerShown {
		body = body[:maxAnswerShown]
	}
	return p.resp.StatusCode(), body, nil
}

// close closes the idle connection to the collector.
func (p *poster) close() {
	p.hc.CloseIdleConnections()
}

// post sends one batch to the collector and reports the outcome to the
// alarm, with the collector's answer when it failed.
func (e *Emitter) post(data []byte) sendResult {
	code, body, err := e.poster.post(data)
	e.retryAfter, e.lastSlow, e.lastLate, e.dupRecords, e.dupStoredBy = 0, false, false, notDup, storedUnknown
	if err == nil && code != fasthttp.StatusOK {
		e.retryAfter = retryAfter(e.poster.resp.Header.Peek("Retry-After"))
	}
	if err == nil && code == fasthttp.StatusOK {
		e.dupRecords = dupRecords(e.poster.resp.Header.Peek(HeaderDuplicate))
		if e.dupRecords != notDup && e.poster.replay != 0 {
			e.dupStoredBy = parseStoredBy(e.poster.resp.Header.Peek(HeaderStoredBy))
		}
	}
	if err != nil {
		e.alarm.failed(FailUnreachable, err.Error())
		if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) {
			e.lastSlow, e.lastLate = true, true
			return sendSlow
		}
		return sendRetry
	}
	res, class := classifyStatus(code, body)
	if res == sendOK {
		e.alarm.delivered()
	} else {
		e.alarm.failed(class, answer(code, body))
	}
	if code == fasthttp.StatusRequestTimeout {
		e.lastSlow = true
		return sendSlow
	}
	return res
}

// retryAfter is a Retry-After header of whole seconds, 0 when there is
// none or it is not one (an HTTP date is not worth the parse here).
func retryAfter(v []byte) time.Duration {
	n, err := fasthttp.ParseUint(v)
	if err != nil {
		return 0
	}
	return min(time.Duration(n)*time.Second, maxRetryAfter)
}

// dupRecords reads a HeaderDuplicate: notDup when there is none, dupUnknown
// when the collector no longer knows the records it holds (or the value
// is not a number), else that number.
func dupRecords(v []byte) int {
	if v == nil {
		return notDup
	}
	n, err := fasthttp.ParseUint(v)
	if err != nil {
		return dupUnknown
	}
	return n
}

// storedBy is a collector's HeaderStoredBy: which request stored a batch
// it answered a duplicate to a replay of.
type storedBy uint8

const (
	storedUnknown storedBy = iota // no header, or one of a later collector
	storedThis                    // an earlier sending of this post, its answer lost
	storedLive                    // the sidecar's first post of the batch, not a replay
	storedBefore                  // another replay, or a request before this post
)

// parseStoredBy reads a HeaderStoredBy.
func parseStoredBy(v []byte) storedBy {
	switch string(v) {
	case "this":
		return storedThis
	case "live":
		return storedLive
	case "before":
		return storedBefore
	}
	return storedUnknown
}
