// Package freeport hands tests a loopback address for a server they start
// later, with a port no other socket of the machine is likely to take in
// between.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

// Lowest and past-the-end ports handed out: below Linux's ephemeral range
// (32768-60999), where the kernel picks a connecting socket's local port
// and a listener's port 0.
const (
	Lowest = 20000
	End    = 32000
)

// handedOut is the ports Addr has returned in this process.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// Addr returns a loopback address with a port that was free, for a server
// the test starts later. The port is drawn below the ephemeral range: a
// port taken from there (a listener on port 0, closed) can go to another
// test's listener on port 0 or outgoing connection before the server binds
// it (TestSidecarWithoutAuditDestination failed with "bind: address
// already in use" under make test, TestSpoolBatchAnswerLostThenRestartCountedReplayed
// timed out "waiting for the collector's address"). No port is handed out
// twice in one test binary: an earlier test's server on a port may still
// hold a keep-alive connection in http.DefaultClient's pool after its
// listener closed, and a later test given that port would reach the old
// server (TestDevStackRecordsEveryRequestAndNoSecrets saw /readyz answer
// 200 and its own listener refuse in CI).
func Addr(tb testing.TB) string {
	tb.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 200 {
		port := Lowest + rand.IntN(End-Lowest)
		if handedOut.ports[port] {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			handedOut.ports[port] = true
			return addr
		}
	}
	tb.Fatalf("no free loopback port in %d-%d", Lowest, End-1)
	return ""
}
