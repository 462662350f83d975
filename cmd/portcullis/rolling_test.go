package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// service stands for a Kubernetes Service in front of sidecar pods: an
// endpoints controller polls each pod's /readyz and keeps the ready ones,
// and clients spread requests over them round-robin, keeping connections
// alive per pod as kube-proxy keeps an established connection on its pod.
type service struct {
	mu    sync.Mutex        // guards the following fields
	pods  map[string]string // listen address by admin address, every pod
	ready []string          // listen addresses of the pods answering /readyz 200
	next  int
}

// add makes the pod at listen (admin address admin) an endpoint candidate.
func (s *service) add(listen, admin string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pods[admin] = listen
}

// pick returns the next ready endpoint, or "" when none is ready.
func (s *service) pick() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ready) == 0 {
		return ""
	}
	s.next++
	return s.ready[s.next%len(s.ready)]
}

// isReady reports whether listen is a ready endpoint.
func (s *service) isReady(listen string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.ready {
		if r == listen {
			return true
		}
	}
	return false
}

// watch polls every pod's /readyz until stop closes, as the endpoints
// controller does (its period is kubelet's readiness probe period, scaled
// down), and sets the ready list from it.
func (s *service) watch(stop <-chan struct{}) {
	probe := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		s.mu.Lock()
		pods := make(map[string]string, len(s.pods))
		for a, l := range s.pods {
			pods[a] = l
		}
		s.mu.Unlock()
		var ready []string
		for admin, listen := range pods {
			resp, err := probe.Get("http://" + admin + "/readyz")
			if err != nil {
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ready = append(ready, listen)
			}
		}
		s.mu.Lock()
		s.ready = ready
		s.mu.Unlock()
	}
}

// rollingPolicy is the example policy with a public POST route: a POST
// with a body that cannot be replayed is never retried by net/http, so a
// request that fails on a connection the pod closed is counted, not
// hidden by a retry.
func rollingPolicy(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const status = "  - {method: GET, path: /v1/status, class: standard, public: true}\n"
	doc := strings.Replace(string(b), status, status+"  - {method: POST, path: /v1/ping, class: standard, public: true}\n", 1)
	if doc == string(b) {
		t.Fatal("the example policy has no /v1/status route to add /v1/ping after")
	}
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A rolling restart of two sidecar processes behind a Service, while
// clients send continuously, fails no request (issue 16, "Done when"): a
// new pod starts and becomes ready, then the old one gets SIGTERM, its
// /readyz goes 503 while its listener still accepts for --drain-delay,
// the endpoints drop it, what it still receives is answered with
// Connection: close, and it exits 0; then the same for the second pod.
// Every request is a POST net/http never retries, so none is hidden.
func TestRollingRestartFailsNoRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	policyFile := rollingPolicy(t, h.dir)
	upstream := slowUpstream(t, 0)
	svc := &service{pods: map[string]string{}}
	startPod := func(name string) (*proc, string) {
		listen, admin := freeAddr(t), freeAddr(t)
		p := h.start(name, "sidecar", "--policy", policyFile, "--listen", listen, "--upstream", upstream,
			"--admin", admin, "--drain-delay", "3s", "--drain", "10s", "--spool", filepath.Join(h.dir, name+"-spool"),
			"--state-dir", filepath.Join(h.dir, name+"-state"))
		svc.add(listen, admin)
		h.until(name+" in the endpoints", func() (bool, string) { return svc.isReady(listen), "not ready" })
		return p, listen
	}
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go svc.watch(stopWatch)
	a, aAddr := startPod("pod-a")
	b, bAddr := startPod("pod-b")

	var stop atomic.Bool
	var res drainResult
	var mu sync.Mutex // guards byPod
	byPod := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
			defer c.CloseIdleConnections()
			for !stop.Load() {
				addr := svc.pick()
				if addr == "" {
					res.add(0, fmt.Errorf("no ready endpoint"))
					time.Sleep(10 * time.Millisecond)
					continue
				}
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/ping", strings.NewReader("ping"))
				req.GetBody = nil // never replayed: a failure is seen
				resp, err := c.Do(req)
				if err != nil {
					res.add(0, fmt.Errorf("%s: %w", addr, err))
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				res.add(resp.StatusCode, nil)
				mu.Lock()
				byPod[addr]++
				mu.Unlock()
			}
		})
	}
	served := func(addr string) int {
		mu.Lock()
		defer mu.Unlock()
		return byPod[addr]
	}
	h.until("both pods serving", func() (bool, string) {
		return served(aAddr) >= 50 && served(bAddr) >= 50, fmt.Sprintf("pod-a %d, pod-b %d", served(aAddr), served(bAddr))
	})

	replace := func(old *proc, oldAddr, name string) string {
		_, addr := startPod(name) // maxSurge: the new pod is ready first
		h.until(name+" serving", func() (bool, string) { return served(addr) >= 50, fmt.Sprintf("%d answered", served(addr)) })
		if err := old.signal(t, syscall.SIGTERM); err != nil {
			t.Errorf("%s exited with %v after SIGTERM, want 0", old.name, err)
		}
		if svc.isReady(oldAddr) {
			t.Errorf("%s exited while still in the endpoints", old.name)
		}
		return addr
	}
	a2 := replace(a, aAddr, "pod-a2")
	b2 := replace(b, bAddr, "pod-b2")
	before := served(a2) + served(b2)
	h.until("the new pods serving after the restart", func() (bool, string) {
		n := served(a2) + served(b2)
		return n >= before+100, fmt.Sprintf("%d answered", n-before)
	})
	stop.Store(true)
	wg.Wait()

	t.Logf("%d requests answered through the rolling restart (pod-a %d, pod-b %d, pod-a2 %d, pod-b2 %d)",
		res.ok, served(aAddr), served(bAddr), served(a2), served(b2))
	for i, f := range res.failures {
		if i == 10 {
			t.Errorf("... %d failures in all", len(res.failures))
			break
		}
		t.Errorf("request failed: %s", f)
	}
}
