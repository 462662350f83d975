package main

import (
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// serveMetrics serves h, the /metrics and probes of the command name,
// on addr (its --metrics-listen), without authentication, until the
// returned function is called.
func serveMetrics(name, addr string, h http.Handler, maxHeaderBytes int, errorLog *stdlog.Logger, log *zerolog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on --metrics-listen %q: %w", addr, err)
	}
	lim := newEvictIdleListener(ln, metricsMaxConns)
	ln = lim
	// IdleTimeout was a minute: metricsMaxConns kept-alive connections
	// sending a request a minute held every place.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: metricsReadTimeout, ReadTimeout: metricsReadTimeout, WriteTimeout: metricsWriteTimeout, IdleTimeout: metricsReadTimeout,
		MaxHeaderBytes: maxHeaderBytes, ErrorLog: errorLog, ConnState: lim.trackState}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg(name + " metrics listener stopped")
		}
	}()
	log.Info().Str("metrics_listen", ln.Addr().String()).Msg(name + " metrics listening")
	return func() {
		if err := srv.Close(); err != nil {
			log.Warn().Err(err).Msg("closing the metrics listener")
		}
		<-done
	}, nil
}

// evictIdleListener holds at most max connections open, like
// netutil.LimitListener, but a connection idle between requests does not
// keep a place another needs: when max are open and one more arrives, the
// longest-idle one is closed to make room. With LimitListener, max
// kept-alive connections from one host, each sending a request a minute,
// held every place, and kubelet's probes waited in the backlog until they
// failed (TestMetricsListenerNotHeldByIdleConnections). Only when none is
// idle does the newcomer wait, for a connection mid-request to end or go
// idle, which the server's read and write timeouts bound. trackState must
// be the server's ConnState.
type evictIdleListener struct {
	net.Listener
	max   int
	mu    sync.Mutex
	open  int
	idle  map[net.Conn]time.Time // idle connections, and since when
	freed chan struct{}          // a place was freed, or a connection went idle; buffered 1
}

func newEvictIdleListener(ln net.Listener, max int) *evictIdleListener {
	return &evictIdleListener{Listener: ln, max: max, idle: map[net.Conn]time.Time{}, freed: make(chan struct{}, 1)}
}

func (l *evictIdleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		l.mu.Lock()
		if l.open < l.max {
			l.open++
			l.mu.Unlock()
			return &placeConn{Conn: c, l: l}, nil
		}
		var oldest net.Conn
		var since time.Time
		for ic, t := range l.idle {
			if oldest == nil || t.Before(since) {
				oldest, since = ic, t
			}
		}
		delete(l.idle, oldest)
		l.mu.Unlock()
		if oldest != nil {
			oldest.Close() // frees its place (placeConn.Close)
			continue
		}
		<-l.freed // every place is mid-request: wait for one to end or go idle
	}
}

// trackState is the server's ConnState: it keeps the idle connections,
// and wakes a newcomer waiting for a place when one goes idle: it waited
// for a close only, and kept-alive connections sending a request a second
// never closed (TestMetricsListenerNewcomerTakesConnectionGoneIdle).
func (l *evictIdleListener) trackState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	if s == http.StateIdle {
		l.idle[c] = time.Now()
	} else {
		delete(l.idle, c)
	}
	l.mu.Unlock()
	if s == http.StateIdle {
		select {
		case l.freed <- struct{}{}:
		default:
		}
	}
}

// placeConn frees its place in l once, at its first Close.
type placeConn struct {
	net.Conn
	l    *evictIdleListener
	once sync.Once
}

func (c *placeConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		delete(c.l.idle, c)
		c.l.mu.Unlock()
		select {
		case c.l.freed <- struct{}{}:
		default:
		}
	})
	return err
}
