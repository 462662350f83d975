package main

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// A legacy sidecar (a regular container, Kubernetes before 1.29) gets
// SIGTERM with the app, and the kubelet kills neither before the pod's
// grace period ends. An app that ignores SIGTERM, with a long grace
// period, bound the sidecar's port once the sidecar had drained and
// exited, and answered it past the sidecar until the end. With
// --hold-port the port stays the sidecar's after the drain, answering
// 503, until the app's own port refuses connections (the app is gone),
// so a pod whose app exits promptly is not held. A native sidecar needs
// none of this: the kubelet stops it after the app.

// heldListener is the sidecar's listener with --hold-port: Close stops
// Accept (by a deadline) but leaves the socket bound, for holdPort.
type heldListener struct {
	*net.TCPListener
	closed atomic.Bool
}

// Accept returns the next connection, or net.ErrClosed once closed.
func (l *heldListener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	if l.closed.Load() {
		if c != nil {
			_ = c.Close()
		}
		return nil, net.ErrClosed
	}
	return c, err
}

// Close wakes Accept and keeps the port.
func (l *heldListener) Close() error {
	l.closed.Store(true)
	return l.TCPListener.SetDeadline(time.Now())
}

// holdAnswerTime bounds each connection to the held port: reading the
// request head, writing the 503 and draining what else the client sends.
// holdPort takes it as a parameter: a test that set a package variable
// raced with the answers of an earlier test's held port still reading it.
const holdAnswerTime = time.Second

// maxHeldAnswers is how many connections to the held port are answered
// at once (answerHeld); one more is closed as it comes.
const maxHeldAnswers = 64

// held503 is the held port's answer.
var held503 = []byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")

// answerHeld answers c 503 once its request head is in, then half-closes
// and reads what the client still sends until it closes. A 503 written
// before the request was read reached the client as a response it had
// not asked for yet (Go's client: "Unsolicited response"), and a close
// with the request's bytes unread reset the connection, so that the
// client saw a connection error, not the 503, on one request in ten
// (TestHeldPortAnswers503). Each connection has d in all.
func answerHeld(c net.Conn, d time.Duration) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	var tail []byte // the last bytes read, for a head end split across reads
	for read := 0; read < 64<<10; {
		n, err := c.Read(buf)
		read += n
		tail = append(tail, buf[:n]...)
		if bytes.Contains(tail, []byte("\r\n\r\n")) || bytes.Contains(tail, []byte("\n\n")) || err != nil {
			break
		}
		if len(tail) > 3 {
			tail = append(tail[:0], tail[len(tail)-3:]...)
		}
	}
	if _, err := c.Write(held503); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok { // TCP: a FIN; TLS: close_notify
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 1<<20)) // a body, until the client closes
}

// holdUpstreamPoll is how often holdPort asks whether the app is gone.
const holdUpstreamPoll = 500 * time.Millisecond

// holdPort answers every connection to ln 503, each within answerTime
// (holdAnswerTime), until upstream refuses a connection; the caller then
// closes ln. With tlsConfig (the listener's TLS, nil without) the 503 goes
// over TLS, handshake included in answerTime: in plain text a client of
// the TLS listener read it as a failed handshake, not as the 503
// (TestHeldPortAnswersOverTLS).
func holdPort(ln *net.TCPListener, upstream string, tlsConfig *tls.Config, answerTime time.Duration, log zerolog.Logger) {
	if err := ln.SetDeadline(time.Time{}); err != nil {
		return
	}
	log.Info().Str("upstream", upstream).Bool("tls", tlsConfig != nil).Msg("holding the listen port, answering 503, until the upstream refuses connections")
	answering := make(chan struct{}, maxHeldAnswers)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by the caller
			}
			select {
			case answering <- struct{}{}:
				if tlsConfig != nil {
					c = tls.Server(c, tlsConfig)
				}
				go func() {
					answerHeld(c, answerTime)
					<-answering
				}()
			default:
				// A flood: a goroutine and a buffer each would grow the
				// sidecar until it was killed for its memory, releasing the
				// port to the app. Closed unread, as before the hold.
				_ = c.Close()
			}
		}
	}()
	for {
		c, err := net.DialTimeout("tcp", upstream, time.Second)
		if err != nil {
			log.Info().Msg("the upstream refuses connections: releasing the listen port")
			return
		}
		_ = c.Close()
		time.Sleep(holdUpstreamPoll)
	}
}
