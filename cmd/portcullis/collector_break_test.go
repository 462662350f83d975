package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCollectorSaysWhenItRecordsABreak: someone who can write the data
// directory but not the anchors deletes the signed head while the
// collector is down (the newest entries deleted under it are refused at
// the start). At its start the collector finds entries and no signed
// head, which may have named more, and records a break (verify
// fails from there on), and it said so nowhere: no log line, no metric,
// so the cut went unseen until someone ran audit verify. It now logs the
// break as an error and counts it in
// portcullis_collector_breaks_recorded_total. A head deleted is refused
// at the start now (no crash leaves a store without it: headtrail153),
// and taken with --accept-missing-head, which the break names with the
// user and host.
func TestCollectorSaysWhenItRecordsABreak(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a real process")
	}
	// The head deleted, or emptied: no crash leaves either, as the head
	// is fsync'd before its rename; before, an emptied head was taken as
	// a crash's and the collector started, recording a break
	// (TestStartRefusesStoreWithInvalidHead).
	for name, tc := range map[string]struct {
		cut  func(head string) error
		want string
	}{
		"deleted": {os.Remove, "head.json is gone"},
		"emptied": {func(head string) error { return os.Truncate(head, 0) }, "head.json is empty"},
	} {
		t.Run(name, func(t *testing.T) { collectorRecordsABreak(t, tc.cut, tc.want) })
	}
}

func collectorRecordsABreak(t *testing.T, cut func(head string) error, want string) {
	h := newKillHarness(t)
	const token = "break-test-collector-token-0123456789abcdef"
	keyFile, tokenFile := h.collectorFiles("sidecar-a " + token)
	data := filepath.Join(h.dir, "data")
	args := func() []string {
		return []string{"collector", "--listen", freeAddr(t), "--metrics-listen", freeAddr(t), "--data", data,
			"--signing-key", keyFile, "--token-file", tokenFile}
	}
	first := args()
	p := h.start("collector-1", first...)
	h.serving("the collector up", "http://"+first[4]+"/healthz")
	body := []byte(`{"resourceLogs":[{"resource":{"attributes":[{"key":"portcullis.batch_id","value":{"stringValue":"i-1"}}]},` +
		`"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","attributes":[{"key":"portcullis.tenant","value":{"stringValue":"acme"}}]}]}]}]}`)
	req, _ := http.NewRequest(http.MethodPost, "http://"+first[2]+"/v1/logs", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := h.http.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("batch: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("collector stop: %v", err)
	}
	// The head goes: the newest (here the only) segment and its digest
	// deleted under it are refused at the start; without it, how many
	// entries went with it is unknown: the start refuses it, unless the
	// operator accepts it, and then records a break.
	if err := cut(filepath.Join(data, "head.json")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, h.bin, args()...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), want) || !strings.Contains(string(out), "--accept-missing-head") {
		t.Fatalf("the collector on a store where %s: %v\n%s\nwant it refused, naming %q and --accept-missing-head", want, err, out, want)
	}
	second := append(args(), "--accept-missing-head")
	h.start("collector-2", second...)
	h.serving("the collector up again", "http://"+second[4]+"/healthz")
	if got := h.metrics(second[4])["portcullis_collector_breaks_recorded_total"]; got != 1 {
		t.Errorf("portcullis_collector_breaks_recorded_total = %d after a start that recorded a break, want 1", got)
	}
	log, _ := os.ReadFile(filepath.Join(h.dir, "collector-2.log"))
	if !strings.Contains(string(log), `"level":"error"`) || !strings.Contains(string(log), "audit trail break recorded") ||
		!strings.Contains(string(log), "no valid signed head") || !strings.Contains(string(log), want+", accepted at the start by --accept-missing-head (uid ") {
		t.Errorf("the collector recorded a break at its start and its log does not say so as an error naming why:\n%s", log)
	}
}
