package main

import (
	"context"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// freezeProxy forwards TCP connections to target until freeze: then it
// stops moving bytes but keeps every connection open, as a network
// partition or a hung etcd does (no reset, no close: a watch stream just
// goes quiet). thaw resumes.
type freezeProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	gate   chan struct{} // closed while bytes flow
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	t.Helper()
	return newFreezeProxyAt(t, "127.0.0.1:0", target)
}

// newFreezeProxyAt is newFreezeProxy listening on addr.
func newFreezeProxyAt(t *testing.T, addr, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, target: target, gate: make(chan struct{})}
	close(p.gate)
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		p.thaw()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		conns.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			open = append(open, c, u)
			mu.Unlock()
			conns.Go(func() { p.pipe(u, c) })
			conns.Go(func() { p.pipe(c, u) })
		}
	}()
	return p
}

// pipe copies src to dst, holding each chunk while the proxy is frozen.
func (p *freezeProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.gate
			p.mu.Unlock()
			<-gate
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			return
		}
	}
}

func (p *freezeProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gate = make(chan struct{})
}

func (p *freezeProxy) thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// etcd going quiet without closing the connection (a partition, a hung
// or leaderless member): the watch stream stays open and says nothing.
// The sidecar found it (its confirm read timed out and it logged "etcd
// unreachable"), yet /readyz kept saying "in sync at revision N" and
// portcullis_etcd_current stayed 1, so PortcullisEtcdUnreachable never
// fired. Now the etcd line says since when etcd does not answer and the
// gauge is 0 until it answers again.
func TestSidecarReportsHungEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	e, cli := etcdClient(t)
	const prefix = "/hung-test"
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcdadmin.New(cli, prefix).PushPolicy(context.Background(), doc, 0, etcdadmin.Meta{Actor: "test", Reason: "hung", Ticket: "T-1"}); err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(e.Endpoints()[0], "http://")
	p := newFreezeProxy(t, target)
	f := runInProcess(t, sidecarFlags{etcd: etcdConnFlags{endpoints: "http://" + p.ln.Addr().String(), prefix: prefix}, stateDir: t.TempDir(), pod: "hung-pod", drain: 1})
	pollUntil(t, obsWait, "in sync", func() (bool, string) {
		_, ready := body(t, "http://"+f.admin+"/readyz")
		return strings.Contains(ready, "etcd: ok, in sync at revision"), ready
	})
	p.freeze()
	pollUntil(t, obsWait, "etcd reported unreachable", func() (bool, string) {
		_, ready := body(t, "http://"+f.admin+"/readyz")
		return strings.Contains(ready, "etcd: ok, etcd unreachable since ") &&
			value(scrapeFamilies(t, f.admin), "portcullis_etcd_current") == 0, ready
	})
	if got := get(t, "http://"+f.listen+"/v1/status", ""); got != 200 {
		t.Errorf("the policy in force is not served while etcd is unreachable: %d", got)
	}
	p.thaw()
	pollUntil(t, obsWait, "in sync again", func() (bool, string) {
		_, ready := body(t, "http://"+f.admin+"/readyz")
		return strings.Contains(ready, "etcd: ok, in sync at revision") &&
			value(scrapeFamilies(t, f.admin), "portcullis_etcd_current") == 1, ready
	})
}

// A hung etcd member (process stopped, disk stalled, a partition that
// still ACKs: the kernel keeps the TCP connection up) must not hold a
// sidecar's watch forever when another endpoint answers. Without gRPC
// keepalive the client never found the connection dead: the watch
// stayed on the hung member, and a key revoked through the healthy one
// was accepted indefinitely. With it, the dead connection is closed
// within seconds and the watch resumes on the other endpoint.
func TestSidecarLeavesHungEtcdMember(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	e, cli := etcdClient(t)
	const prefix = "/hung-member-test"
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	admin := etcdadmin.New(cli, prefix)
	if _, err := admin.PushPolicy(context.Background(), doc, 0, etcdadmin.Meta{Actor: "test", Reason: "hung", Ticket: "T-1"}); err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(e.Endpoints()[0], "http://")
	hung := newFreezeProxy(t, target)
	// The second member's address refuses connections until the first
	// hangs, so the watch starts on the first.
	second := freeAddr(t)
	f := runInProcess(t, sidecarFlags{etcd: etcdConnFlags{endpoints: "http://" + hung.ln.Addr().String() + ",http://" + second, prefix: prefix},
		stateDir: t.TempDir(), pod: "hung-member-pod", drain: 1})
	const hris = "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"
	pollUntil(t, obsWait, "in sync and the key accepted", func() (bool, string) {
		_, ready := body(t, "http://"+f.admin+"/readyz")
		return strings.Contains(ready, "etcd: ok, in sync at revision") && get(t, "http://"+f.listen+"/v1/users", hris) == 200, ready
	})
	hung.freeze()
	newFreezeProxyAt(t, second, target)
	if _, err := admin.RevokeKey(context.Background(), "acmehris1", etcdadmin.Meta{Actor: "test", Reason: "compromised", Ticket: "T-2"}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, obsWait, "the revocation through the healthy member", func() (bool, string) {
		code := get(t, "http://"+f.listen+"/v1/users", hris)
		return code == 401, "status " + strconv.Itoa(code)
	})
}
