package collector

import (
	"net/netip"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// sampleRecord returns a filled record as a sidecar captures it; i varies
// the request id and path. It is the audit package's test record.
func sampleRecord(i int) audit.Record {
	var r audit.Record
	r.Time = time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC).UnixNano() + int64(i)
	r.Duration = 1234567
	r.PolicyRevision = 42
	r.BytesIn, r.BytesOut = 100, 2048
	r.Status = 200
	r.Decision = audit.Allowed
	r.AuthMethod = audit.AuthAPIKey
	r.SourceIP = netip.MustParseAddr("10.1.2.3")
	r.Tenant, r.Client, r.Route = "acme", "crm-sync", "/v1/users/{id}"
	r.SetMethod([]byte("GET"))
	r.SetKeyID([]byte("key_01"))
	r.SetPath([]byte("/v1/users/" + string(rune('a'+i%26))))
	r.SetRequestID([]byte("req-0000" + string(rune('a'+i%26))))
	r.SetUserAgent([]byte("curl/8.5"))
	return r
}

// waitFor polls cond until it holds or the deadline passes: emitters and
// child collectors work on their own goroutines and processes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fastConfig is an emitter configuration for tests: small batches, short
// flushes and backoffs.
func fastConfig(url, spool string) audit.EmitterConfig {
	return audit.EmitterConfig{URL: url, SpoolDir: spool, BatchSize: 64, FlushInterval: 20 * time.Millisecond,
		Slots: 4096, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		RetryBudget: 30 * time.Millisecond, Service: "svc", Host: "h1", InstanceID: "inst"}
}
