//go:build linux && !race

package dataplane

import "testing"

// TestSockConnRawSystemCalls runs the sockConn tests again where sockConn
// makes raw system calls: under -race it goes through the syscall
// package instead (sockio_race.go), and make test's second pass runs the
// tests of files built without race only.
func TestSockConnRawSystemCalls(t *testing.T) {
	t.Run("large data", TestSockConnMovesLargeData)
	t.Run("read waits", TestSockConnReadWaits)
	t.Run("EOF", TestSockConnEOF)
	t.Run("errors", TestSockConnErrors)
	t.Run("reset not reused", TestPooledResetIsNotReused)
	t.Run("deadlines", TestUpstreamDeadlineKeptWithinAnEighth)
	t.Run("wiring", TestServedConnectionsUseRawIO)
}
