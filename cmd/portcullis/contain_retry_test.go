package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// relay is a TCP relay on loopback to an etcd endpoint that can be cut:
// while down, it closes every connection it accepts and every one open.
type relay struct {
	ln     net.Listener
	target string
	up     atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: strings.TrimPrefix(target, "http://")}
	t.Cleanup(func() { ln.Close(); r.cut() })
	go r.serve()
	return r
}

func (r *relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		if !r.up.Load() {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, u)
		r.mu.Unlock()
		go func() { io.Copy(u, c); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

// cut takes the relay down and closes the connections it carries.
func (r *relay) cut() {
	r.up.Store(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

// syncBuf is a bytes.Buffer safe for the logger and the test at once.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestContainmentRetriedAfterEtcdOutage: the alert fires while etcd is out
// of the collector's reach; the containment fails. It is tried again until
// etcd is back, not only at the collector's next start (which may be
// weeks away, while the attacker goes on): the client is suspended, with
// the alert named, once etcd answers again.
func TestContainmentRetriedAfterEtcdOutage(t *testing.T) {
	t.Parallel()
	e, admin := etcdAdmin(t, "/contain-retry-test")
	ctx := t.Context()
	doc, _ := os.ReadFile(examplePolicy)
	if _, err := admin.PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	rl := newRelay(t, e.Endpoints()[0])
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{rl.ln.Addr().String()}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	store, det := openDetection(t, ctx, t.TempDir(), signingKey(t), examplePolicy, nil)
	defer store.Close()
	var logs syncBuf
	log := zerolog.New(&logs)
	cont := newContainer(etcdActions(etcdadmin.New(cli, "/contain-retry-test"), "portcullis-collector", ""), det.engine, &log)
	cont.attempt, cont.minWait, cont.maxWait = 2*time.Second, 20*time.Millisecond, 200*time.Millisecond
	appendBatch(t, store, "b1", probes(time.Now().UTC(), time.Millisecond, "203.0.113.9", "r"))
	id := alertID(t, det, "tenant-probe", "")
	a, _ := det.engine.Alert(id)
	cont.contain(ctx, a)
	pollUntil(t, pollWait, "the containment failing while etcd is out of reach", func() (bool, string) {
		return strings.Contains(logs.String(), "containment failed"), logs.String()
	})
	rl.up.Store(true)
	pollUntil(t, pollWait, "acme-hris suspended once etcd is back", func() (bool, string) {
		sus, err := admin.Suspensions(ctx)
		s, ok := sus["acme-hris"]
		return err == nil && ok && strings.Contains(s.Reason, id), logs.String()
	})
}
