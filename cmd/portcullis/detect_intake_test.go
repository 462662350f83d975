//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/alert"
)

// intakeToken is the sender token of the intake detection tests.
const intakeToken = "intake-sender-token-0123456789abcdefghij"

// guessBody is an OTLP/JSON batch of n refused token guesses from each of
// the sources, the batch id id.
func guessBody(id string, sources []string, n int, at time.Time) []byte {
	var recs []string
	for si, src := range sources {
		for i := range n {
			ts := at.Add(time.Duration(si*n+i) * time.Millisecond).UnixNano()
			recs = append(recs, fmt.Sprintf(`{"timeUnixNano":"%d","attributes":[`+
				`{"key":"http.request.method","value":{"stringValue":"GET"}},`+
				`{"key":"http.route","value":{"stringValue":"/v1/users"}},`+
				`{"key":"http.response.status_code","value":{"intValue":"401"}},`+
				`{"key":"portcullis.decision","value":{"stringValue":"unauthenticated"}},`+
				`{"key":"portcullis.key_id","value":{"stringValue":"guess%d"}},`+
				`{"key":"client.address","value":{"stringValue":"%s"}},`+
				`{"key":"portcullis.request_id","value":{"stringValue":"%s-%d-%d"}}]}`, ts, i, src, id, si, i))
		}
	}
	return []byte(`{"resourceLogs":[{"resource":{"attributes":[` +
		`{"key":"portcullis.batch_id","value":{"stringValue":"` + id + `"}},` +
		`{"key":"service.name","value":{"stringValue":"intake"}}]},` +
		`"scopeLogs":[{"logRecords":[` + strings.Join(recs, ",") + `]}]}]}`)
}

// postBatch posts body to the collector at addr with the intake token
// and returns the status and the answer.
func postBatch(t *testing.T, addr string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/logs", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+intakeToken)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFoldedSourcesThroughIntakeAndRestart: 150 token-guessing sources
// sent to the real collector over HTTP are 100 alerts and one folded
// alert counting 50, in the trail as alerts list reads it, and after a
// restart the collector goes on folding (more sources fold, no 101st
// alert opens) and the trail still verifies.
func TestFoldedSourcesThroughIntakeAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	c := newIntakeCollector(t)
	h, keyFile, data, listen, start := c.h, c.keyFile, c.data, c.listen, c.start
	send := func(prefix string, from, to int) {
		t.Helper()
		for b := from; b < to; b += 10 {
			var srcs []string
			for i := b; i < b+10 && i < to; i++ {
				srcs = append(srcs, fmt.Sprintf("198.18.%d.%d", i/200, i%200+1))
			}
			id := fmt.Sprintf("%s-%d", prefix, b)
			if code, ans := postBatch(t, listen, guessBody(id, srcs, 35, time.Now().UTC())); code != http.StatusOK {
				t.Fatalf("batch %s: %d %s", id, code, ans)
			}
		}
	}
	check := func(when string, wantFolded int64) {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := alertsList([]string{"--data", data, "--public-key", keyFile + ".pub", "--rule", "token-guessing-source", "--format", "json"}, &out, &errOut); code != 0 {
			t.Fatalf("%s: alerts list = %d: %s", when, code, &errOut)
		}
		var as []alert.Alert
		if err := json.Unmarshal(out.Bytes(), &as); err != nil {
			t.Fatalf("%s: %v: %s", when, err, out.String())
		}
		plain, folded := 0, []alert.Alert{}
		for _, a := range as {
			if a.Key == "*" {
				folded = append(folded, a)
			} else if a.Status == "open" {
				plain++
			}
		}
		if plain != 100 || len(folded) != 1 || folded[0].Folded != wantFolded {
			fs := ""
			for _, f := range folded {
				fs += fmt.Sprintf(" [folded=%d status=%s keys=%d]", f.Folded, f.Status, len(f.FoldedKeys))
			}
			t.Errorf("%s: %d open alerts of a source and %d folded%s; want 100 and one folding %d", when, plain, len(folded), fs, wantFolded)
		}
	}

	col := start()
	send("a", 0, 150)
	if err := col.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("collector stopped with %v", err)
	}
	check("first run", 50)

	col = start()
	send("b", 0, 150)   // the same sources again: the same alerts
	send("c", 150, 170) // new sources: folded
	if err := col.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("collector stopped with %v", err)
	}
	check("after a restart", 70)
	if out, err := exec.Command(h.bin, "audit", "verify", "--data", data, "--public-key", keyFile+".pub").CombinedOutput(); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
}

// jsonRecord is one OTLP/JSON log record of a refused guess of keyID from
// src at t.
func jsonRecord(t time.Time, keyID, src, reqID string) string {
	return fmt.Sprintf(`{"timeUnixNano":"%d","attributes":[`+
		`{"key":"http.request.method","value":{"stringValue":"GET"}},`+
		`{"key":"http.route","value":{"stringValue":"/v1/users"}},`+
		`{"key":"http.response.status_code","value":{"intValue":"401"}},`+
		`{"key":"portcullis.tenant","value":{"stringValue":"acme"}},`+
		`{"key":"portcullis.decision","value":{"stringValue":"unauthenticated"}},`+
		`{"key":"portcullis.key_id","value":{"stringValue":"%s"}},`+
		`{"key":"client.address","value":{"stringValue":"%s"}},`+
		`{"key":"portcullis.request_id","value":{"stringValue":"%s"}}]}`, t.UnixNano(), keyID, src, reqID)
}

// jsonBatch is an OTLP/JSON batch of recs under batch id id.
func jsonBatch(id string, recs []string) []byte {
	return []byte(`{"resourceLogs":[{"resource":{"attributes":[` +
		`{"key":"portcullis.batch_id","value":{"stringValue":"` + id + `"}}]},` +
		`"scopeLogs":[{"logRecords":[` + strings.Join(recs, ",") + `]}]}]}`)
}

// TestSkewedFirstRecordDoesNotBlindDetection: the first record a new
// collector stores, dated two centuries ahead (stored flagged
// time_outside_window), must not move the windows of its groups there:
// the guesses of acme-hris's key that follow, from every sender, are the
// token-guessing-client alert (and the suspension) they always were.
func TestSkewedFirstRecordDoesNotBlindDetection(t *testing.T) {
	ahead := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
	guessesFollow(t, "the collector's first record dated 2200", func(now time.Time) []string {
		return []string{jsonRecord(ahead, "acmehris1", "203.0.113.9", "ahead")}
	})
}

// TestRecordAheadWithinWindowDoesNotBlindDetection: a record dated 14
// minutes ahead, within --record-window and so stored unflagged, must not
// move its groups' windows (one minute for token guessing) past the
// guesses that follow it: they are the alerts they always were.
func TestRecordAheadWithinWindowDoesNotBlindDetection(t *testing.T) {
	guessesFollow(t, "one dated 14 minutes ahead (within --record-window) before them", func(now time.Time) []string {
		return []string{jsonRecord(now, "acmehris1", "203.0.113.9", "first"), jsonRecord(now.Add(14*time.Minute), "acmehris1", "203.0.113.9", "ahead")}
	})
}

// guessesFollow sends a collector started with the example policy the
// records first(now) returns and then 40 guesses of acmehris1 from
// 203.0.113.9, in one batch over HTTP, stops it, and fails unless
// alerts list shows one token-guessing-client and one
// token-guessing-source alert; before says what came first, for the
// failure.
func guessesFollow(t *testing.T, before string, first func(now time.Time) []string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	c := newIntakeCollector(t)
	keyFile, data, listen := c.keyFile, c.data, c.listen
	p := c.start()
	now := time.Now().UTC()
	recs := first(now)
	for i := range 40 {
		recs = append(recs, jsonRecord(now.Add(time.Duration(i)*time.Millisecond), "acmehris1", "203.0.113.9", fmt.Sprintf("g%d", i)))
	}
	if code, ans := postBatch(t, listen, jsonBatch("skew", recs)); code != http.StatusOK {
		t.Fatalf("batch: %d %s", code, ans)
	}
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("collector stopped with %v", err)
	}
	for _, rule := range []string{"token-guessing-client", "token-guessing-source"} {
		var out, errOut bytes.Buffer
		if code := alertsList([]string{"--data", data, "--public-key", keyFile + ".pub", "--rule", rule, "--format", "json"}, &out, &errOut); code != 0 {
			t.Fatalf("alerts list = %d: %s", code, &errOut)
		}
		var as []alert.Alert
		if err := json.Unmarshal(out.Bytes(), &as); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		if len(as) != 1 {
			t.Errorf("%s: %d alerts after 40 guesses of acmehris1 from 203.0.113.9, %s; want 1", rule, len(as), before)
		}
	}
}

// intakeCollector is a collector process of the example policy taking
// the intake token, with its files and addresses kept across restarts.
type intakeCollector struct {
	h                              *killHarness
	keyFile, tokenFile, policyFile string
	data, listen, metricsAddr      string
}

func newIntakeCollector(t *testing.T) *intakeCollector {
	h := newKillHarness(t)
	c := &intakeCollector{h: h, data: filepath.Join(h.dir, "audit"), listen: freeAddr(t), metricsAddr: freeAddr(t)}
	c.keyFile, c.tokenFile = h.collectorFiles("intake " + intakeToken)
	c.policyFile, _ = h.examplePolicy()
	return c
}

// start runs the collector and waits until it is healthy, failing the
// test with its log if it exits first.
func (c *intakeCollector) start() *proc {
	h, t := c.h, c.h.t
	p := h.start("collector", "collector", "--listen", c.listen, "--data", c.data, "--signing-key", c.keyFile,
		"--token-file", c.tokenFile, "--metrics-listen", c.metricsAddr, "--policy", c.policyFile)
	h.until("collector health", func() (bool, string) {
		select {
		case <-p.done:
			b, _ := os.ReadFile(filepath.Join(h.dir, "collector.log"))
			t.Fatalf("collector exited: %v\n%s", p.err, tail(string(b), 2000))
		default:
		}
		code := h.status("http://" + c.metricsAddr + "/healthz")
		return code == http.StatusOK, fmt.Sprintf("/healthz %d", code)
	})
	return p
}
