package main

import (
	"strings"
	"testing"
	"time"
)

// An --upstream that is the sidecar's own --listen (or --admin) is a
// usage error naming both. The sidecar started and forwarded every
// admitted request back to itself, each pass admitted and audited, until
// the pool's cap for public routes answered 503: one request to
// /v1/status made 256 audit records.
func TestSidecarUpstreamOwnListenerRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sidecar")
	}
	t.Parallel()
	port := func() string { _, p, _ := strings.Cut(freeAddr(t), ":"); return p }
	for _, tc := range []struct{ listen, upstream, admin, flag string }{
		{"127.0.0.1:" + port(), "", "", "--listen"},
		{":" + port(), "localhost", "", "--listen"},
		{"0.0.0.0:" + port(), "127.0.0.1", "", "--listen"},
		{"127.0.0.1:" + port(), "", "127.0.0.1:" + port(), "--admin"},
	} {
		up := tc.listen
		if tc.flag == "--admin" {
			up = tc.admin
		} else if tc.upstream != "" {
			_, p, _ := strings.Cut(tc.listen, ":")
			up = tc.upstream + ":" + p
		}
		admin := tc.admin
		if admin == "" {
			admin = freeAddr(t)
		}
		res := portcullisWithin(t, time.Minute, "sidecar", "--policy", examplePolicy, "--listen", tc.listen, "--admin", admin, "--upstream", up)
		if res.code != 2 || !strings.Contains(res.stderr, "--upstream "+up+" is this sidecar's own "+tc.flag) {
			t.Errorf("sidecar --listen %s --admin %s --upstream %s: exit %d, stderr:\n%s\nwant a usage error naming --upstream and %s", tc.listen, admin, up, res.code, tail(res.stderr, 2000), tc.flag)
		}
	}
}

// reachesOwnListener refuses only an upstream that dials the listener.
func TestReachesOwnListener(t *testing.T) {
	for _, tc := range []struct {
		upstream, listen string
		want             bool
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{"localhost:8080", "127.0.0.1:8080", true},
		{"127.0.0.1:8080", ":8080", true},
		{"127.0.0.2:8080", "0.0.0.0:8080", true},
		{"[::1]:8080", "[::]:8080", true},
		{"0.0.0.0:8080", "127.0.0.1:8080", true},
		{"10.0.0.7:8080", "10.0.0.7:8080", true},
		{"127.0.0.1:3000", "127.0.0.1:8080", false},
		{"127.0.0.1:8080", "127.0.0.2:8080", false},
		{"10.0.0.7:8080", ":8080", false}, // another host's address, as far as flags show
		{"app:8080", ":8080", false},
		{"127.0.0.1:8080", "10.0.0.7:8080", false},
	} {
		if got := reachesOwnListener(tc.upstream, tc.listen); got != tc.want {
			t.Errorf("reachesOwnListener(%q, %q) = %v, want %v", tc.upstream, tc.listen, got, tc.want)
		}
	}
}
