// Package devetcd runs a single-member etcd server in this process on
// loopback ports, for `portcullis dev` (through the portcullis-dev binary)
// and for tests. It is the only package that links the etcd server (raft,
// bbolt); the sidecar binary must not import it.
//
// A Server's data lives in the directory given to Start; Stop and Start
// keep the directory and the ports, so clients reconnect to the same
// endpoints. Its methods are safe for concurrent use.
package devetcd

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is a single-member etcd server running in this process on
// loopback ports. Its data lives in the directory given to Start; Stop and
// Start keep the directory and the ports, so clients reconnect to the same
// endpoints.
type Server struct {
	dir          string
	client, peer url.URL
	tls          transport.TLSInfo // the client listener's, with StartTLS

	mu  sync.Mutex // guards the following fields
	etc *embed.Etcd
}

// startTimeout bounds how long the server may take to become ready.
const startTimeout = time.Minute

// Start starts an etcd server with its data in dir, on free
// loopback ports, logging nothing. A port found free can be taken by
// another process before etcd binds it (tests start many servers at
// once), so a start that finds its port in use tries new ports.
func Start(dir string) (*Server, error) {
	var err error
	for range 5 {
		var e *Server
		if e, err = startOnFreePorts(dir, transport.TLSInfo{}); !addrInUse(err) {
			return e, err
		}
	}
	return nil, err
}

// StartTLS is Start with the client listener on HTTPS, serving the
// certificate cert (its key in key) and asking for a client certificate
// signed by the CA in ca: etcd's --client-cert-auth, under which a
// client's certificate common name is its etcd user once authentication
// is enabled. Tests use it; portcullis dev does not.
func StartTLS(dir, cert, key, ca string) (*Server, error) {
	tls := transport.TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: ca, ClientCertAuth: true}
	var err error
	for range 5 {
		var e *Server
		if e, err = startOnFreePorts(dir, tls); !addrInUse(err) {
			return e, err
		}
	}
	return nil, err
}

// startOnFreePorts starts a server on free ports, its client listener on
// HTTPS when tls is not empty.
func startOnFreePorts(dir string, tls transport.TLSInfo) (*Server, error) {
	c, err := freeURL()
	if err != nil {
		return nil, err
	}
	p, err := freeURL()
	if err != nil {
		return nil, err
	}
	e := &Server{dir: dir, client: c, peer: p, tls: tls}
	if !tls.Empty() {
		e.client.Scheme = "https"
	}
	return e, e.start()
}

func addrInUse(err error) bool {
	return err != nil && (errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use"))
}

// freeURL returns an http URL on a loopback port that was free just now.
func freeURL() (url.URL, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return url.URL{}, fmt.Errorf("cannot find a free loopback port: %w", err)
	}
	defer ln.Close()
	return url.URL{Scheme: "http", Host: ln.Addr().String()}, nil
}

// Endpoints returns the client endpoints of the server.
func (e *Server) Endpoints() []string { return []string{e.client.String()} }

// Start starts the server (again, after Stop) and waits until it serves.
// Its ports, free while it was stopped, may have been taken meanwhile as
// the local port of another process's connection (the kernel hands out
// ephemeral ports from the same range): such a start is tried again for
// a few seconds, while that connection ends.
func (e *Server) Start() error {
	var err error
	for range 50 {
		if err = e.start(); !addrInUse(err) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func (e *Server) start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.etc != nil {
		return errors.New("embedded etcd is already running")
	}
	cfg := embed.NewConfig()
	cfg.Name = "portcullis-dev"
	cfg.Dir = e.dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{e.client}, []url.URL{e.client}
	cfg.ClientTLSInfo = e.tls
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{e.peer}, []url.URL{e.peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.LogLevel = "error"
	etc, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("cannot start embedded etcd in %q: %w", e.dir, err)
	}
	select {
	case <-etc.Server.ReadyNotify():
	case err := <-etc.Err():
		etc.Close()
		return fmt.Errorf("embedded etcd in %q failed: %w", e.dir, err)
	case <-time.After(startTimeout):
		etc.Close()
		return fmt.Errorf("embedded etcd in %q not ready after %s", e.dir, startTimeout)
	}
	e.etc = etc
	return nil
}

// Stop stops the server, keeping its data; Start brings it back.
func (e *Server) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.etc != nil {
		e.etc.Close()
		e.etc = nil
	}
}

// Restart stops the server and starts it again on the same data and ports.
func (e *Server) Restart() error {
	e.Stop()
	return e.Start()
}

// Close stops the server. The data directory stays; removing it is the
// caller's business.
func (e *Server) Close() { e.Stop() }
