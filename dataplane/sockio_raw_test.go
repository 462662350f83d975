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
	t.Run("send and wait", TestSendWaitWaitsForTheAnswer)
	t.Run("send finds stray bytes", TestSendWaitFindsStrayBytes)
	t.Run("send leaves the rest", TestSendWaitLeavesTheRest)
	t.Run("send times out", TestSendWaitTimesOut)
	t.Run("later deadline lazy", TestDeadlineLaterIsLazy)
	t.Run("deadline never early", TestDeadlineNeverEarly)
	t.Run("earlier deadline at once", TestDeadlineEarlierAtOnce)
	t.Run("write past an early deadline", TestDeadlineWriteGoesOn)
	t.Run("pending after an early deadline", TestPendingAfterEarlyDeadline)
}

// TestTrustBoundaryOnRawSockets sends the hostile bytes of the trust
// boundary's socket tests through the raw system calls: the race pass
// runs them with sockConn on the syscall package, so without this the
// path every deployed sidecar takes would meet them only in make demo and
// the bench. Smuggling, trailers, credentials, a leftover or stray byte
// on a pooled upstream connection, framing, streaming and TLS.
func TestTrustBoundaryOnRawSockets(t *testing.T) {
	for name, test := range map[string]func(*testing.T){
		"smuggling refused":              TestSmugglingRefused,
		"trailers never forwarded":       TestTrailersNeverForwarded,
		"credentials never forwarded":    TestCredentialsNeverForwarded,
		"transfer-encoding chunked only": TestTransferEncodingOnlyChunked,
		"multipart byte for byte":        TestMultipartBodyByteForByte,
		"upstream leftover":              TestUpstreamLeftoverNeverDelivered,
		"upstream framing":               TestUpstreamFraming,
		"upstream idle close":            TestUpstreamIdleCloseReplaced,
		"upstream failures":              TestUpstreamFailures,
		"large response streamed":        TestLargeResponseStreamed,
		"HTTP/1.0 body to close":         TestHTTP10ClientGetsBodyToClose,
		"TLS listener":                   TestServeTLSListener,
		"TLS client certificates":        TestTLSClientCertificates,
	} {
		t.Run(name, test)
	}
}
