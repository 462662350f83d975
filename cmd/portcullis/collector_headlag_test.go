package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCollectorRefusesHeadPutBackOlder (headlag170): someone who can
// write the data directory copies head.json, and later, the collector
// down (here SIGKILLed), puts the copy back and cuts the newest entry.
// The collector started on it as after a crash: the cut entries were
// gone, and no break said so. The timer's head is written with the
// directory's fsync, which no crash loses, and each entry after it
// records it: a head.json older than that is refused, naming the file,
// the lag and --accept-missing-head, which records the break.
func TestCollectorRefusesHeadPutBackOlder(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a real process")
	}
	h := newKillHarness(t)
	const token = "headlag-test-collector-token-0123456789abcdef"
	keyFile, tokenFile := h.collectorFiles("sidecar-a " + token)
	data := filepath.Join(h.dir, "data")
	head := filepath.Join(data, "head.json")
	args := func() []string {
		return []string{"collector", "--listen", freeAddr(t), "--metrics-listen", freeAddr(t), "--data", data,
			"--signing-key", keyFile, "--token-file", tokenFile, "--sign-every", "100ms"}
	}
	first := args()
	p := h.start("collector-1", first...)
	h.serving("the collector up", "http://"+first[4]+"/healthz")
	post := func(id string) {
		t.Helper()
		body := fmt.Sprintf(`{"resourceLogs":[{"resource":{"attributes":[{"key":"portcullis.batch_id","value":{"stringValue":%q}}]},`+
			`"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","attributes":[{"key":"portcullis.tenant","value":{"stringValue":"acme"}}]}]}]}]}`, id)
		req, _ := http.NewRequest(http.MethodPost, "http://"+first[2]+"/v1/logs", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := h.http.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("batch %s: %v %v", id, resp, err)
		}
		resp.Body.Close()
	}
	headNow := func() (seq uint64, at time.Time) {
		var doc struct {
			Payload struct {
				Seq  uint64    `json:"seq"`
				Time time.Time `json:"time"`
			} `json:"payload"`
		}
		b, _ := os.ReadFile(head)
		json.Unmarshal(b, &doc)
		return doc.Payload.Seq, doc.Payload.Time
	}
	post("b-1")
	older, err := os.ReadFile(head) // the copy
	if err != nil {
		t.Fatal(err)
	}
	olderSeq, _ := headNow()
	post("b-2")
	posted := time.Now()
	h.until("the timer's head signed after b-2", func() (bool, string) {
		seq, at := headNow()
		return seq > olderSeq && at.After(posted), fmt.Sprintf("head.json names seq %d, signed %s", seq, at)
	})
	durableSeq, _ := headNow()
	post("b-3")
	post("b-4")
	p.signal(t, syscall.SIGKILL)

	if err := os.WriteFile(head, older, 0o600); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(data, "seg-00000001.log")
	lines, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	cut := bytes.SplitAfter(lines, []byte("\n"))
	if err := os.WriteFile(seg, bytes.Join(cut[:len(cut)-2], nil), 0o600); err != nil { // b-4's entry cut
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, h.bin, args()...).CombinedOutput()
	for _, want := range []string{fmt.Sprintf("head.json names seq %d", olderSeq), fmt.Sprintf("the head naming seq %d was written durably before it", durableSeq), "--accept-missing-head"} {
		if err == nil || !strings.Contains(string(out), want) {
			t.Fatalf("the collector on an older head.json put back and its newest entry cut: %v\n%s\nwant it refused, naming %q", err, out, want)
		}
	}

	second := append(args(), "--accept-missing-head")
	h.start("collector-2", second...)
	h.serving("the collector up again", "http://"+second[4]+"/healthz")
	if got := h.metrics(second[4])["portcullis_collector_breaks_recorded_total"]; got != 1 {
		t.Errorf("portcullis_collector_breaks_recorded_total = %d after a start that recorded a break, want 1", got)
	}
	log, _ := os.ReadFile(filepath.Join(h.dir, "collector-2.log"))
	if !strings.Contains(string(log), "audit trail break recorded") || !strings.Contains(string(log), fmt.Sprintf("head.json names seq %d", olderSeq)) ||
		!strings.Contains(string(log), "accepted at the start by --accept-missing-head (uid ") {
		t.Errorf("the collector recorded the older head as a break and its log does not say so:\n%s", log)
	}
}
