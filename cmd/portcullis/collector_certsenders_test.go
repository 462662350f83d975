package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// TestCollectorMaxCertSenders: the collector holds state for at most
// --max-cert-senders client certificate identities (4096 by default, and
// only a library setting before), so a deployment of more pods, each with
// a certificate of its own, had its new pods' batches refused 503 with
// nothing to raise, and the collector's own log silent about it. With
// --max-cert-senders 2 the real process over TLS takes two identities'
// batches, answers the third's 503 cert_senders_full (the JSON error
// shape, Retry-After) and logs once why and which flags to change; a bad
// value is a usage error naming the flag.
func TestCollectorMaxCertSenders(t *testing.T) {
	t.Parallel()
	r := newCollectorCRLRig(t)
	for _, bad := range [][]string{{"--max-cert-senders", "0"}, {"--max-cert-senders", "-2"}, {"--cert-sender-idle", "0s"}} {
		res := portcullisWithin(t, 20*time.Second, append(append([]string{}, r.args...), bad...)...)
		if res.code != 2 || !strings.Contains(res.stderr, bad[0]) {
			t.Errorf("collector %s %s: exit %d, stderr %q; want a usage error naming %s", bad[0], bad[1], res.code, res.stderr, bad[0])
		}
	}

	r.h.start("collector", append(r.args, "--max-cert-senders", "2", "--cert-sender-idle", "1h")...)
	r.h.serving("the collector's metrics listener", "http://"+r.metricsA+"/healthz")
	send := func(serial int64) (int, string) {
		t.Helper()
		var rec audit.Record
		rec.Time, rec.Status, rec.Decision = time.Now().UnixNano(), 200, audit.Allowed
		rec.Tenant, rec.Client, rec.Route = "acme", "crm-sync", "/v1/users/{id}"
		rec.SetMethod([]byte("GET"))
		rec.SetRequestID([]byte(fmt.Sprintf("req-%d", serial)))
		id := fmt.Sprintf("pod%d-1", serial)
		body := audit.EncodeBatch(nil, audit.Resource{Service: "svc", Host: "pod", InstanceID: fmt.Sprintf("pod%d", serial)}, id, rec)
		var status int
		var answer string
		r.h.until("the intake up", func() (bool, string) {
			c, err := r.dial(r.sender(serial))
			if err != nil {
				return false, err.Error()
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			status, answer = resp.StatusCode, string(b)
			if status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				t.Errorf("sender %d: 503 without Retry-After", serial)
			}
			return true, ""
		})
		return status, answer
	}
	for _, serial := range []int64{11, 12} {
		if code, answer := send(serial); code != 200 {
			t.Fatalf("sender %d, within --max-cert-senders 2: %d %s", serial, code, answer)
		}
	}
	code, answer := send(13)
	var e struct{ Error, Message string }
	if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(answer), &e) != nil || e.Error != "cert_senders_full" {
		t.Fatalf("a third sender past --max-cert-senders 2: %d %s; want 503 cert_senders_full", code, answer)
	}
	if code, answer := send(11); code != 200 {
		t.Errorf("a live sender after the refusal: %d %s", code, answer)
	}
	send(14)
	r.h.until("the refusal logged", func() (bool, string) {
		log := r.log()
		return strings.Contains(log, "cert_senders_full") && strings.Contains(log, "--max-cert-senders"), log
	})
	if n := strings.Count(r.log(), "raise --max-cert-senders"); n != 1 {
		t.Errorf("two refusals within a minute logged %d times; want once", n)
	}
	if m := r.scrape(); !strings.Contains(m, `portcullis_collector_rejects_total{reason="cert_senders_full"} 2`) {
		t.Errorf("metrics do not count the two refusals:\n%s", m)
	}
}
