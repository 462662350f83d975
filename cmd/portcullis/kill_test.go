package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// killWait bounds every poll in the kill test. It is a deadline for a
// condition to become true on a loaded machine, not a speed assertion.
const killWait = 90 * time.Second

// proc is a real portcullis process started by the kill test.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once Wait returns
	err  error         // Wait's result, set before done closes
}

// signal sends sig and waits for the process to exit.
func (p *proc) signal(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(killWait):
		t.Fatalf("%s did not exit after %v", p.name, sig)
		return nil
	}
}

// killHarness starts portcullis processes from one binary, each logging to
// its own file that the test prints when it fails.
type killHarness struct {
	t    *testing.T
	bin  string
	dir  string
	http *http.Client
}

func newKillHarness(t *testing.T) *killHarness {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH to build the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "portcullis")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	return &killHarness{t: t, bin: bin, dir: dir, http: client}
}

// collectorFiles writes a collector's signing key (audit keygen) and a
// token file of one line, tokenLine, and returns their paths.
func (h *killHarness) collectorFiles(tokenLine string) (keyFile, tokenFile string) {
	h.t.Helper()
	keyFile, tokenFile = filepath.Join(h.dir, "signing.key"), filepath.Join(h.dir, "token")
	if err := os.WriteFile(tokenFile, []byte(tokenLine+"\n"), 0o600); err != nil {
		h.t.Fatal(err)
	}
	if out, err := exec.Command(h.bin, "audit", "keygen", "--out", keyFile).CombinedOutput(); err != nil {
		h.t.Fatalf("audit keygen: %v\n%s", err, out)
	}
	return keyFile, tokenFile
}

// start runs `portcullis args...` until the test ends.
func (h *killHarness) start(name string, args ...string) *proc {
	h.t.Helper()
	logPath := filepath.Join(h.dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command(h.bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = h.dir, logFile, logFile
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); logFile.Close(); close(p.done) }()
	h.t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if b, _ := os.ReadFile(logPath); h.t.Failed() && len(b) > 0 {
			h.t.Logf("--- %s log ---\n%s", name, tail(string(b), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// status answers the HTTP status of GET url with the given headers, or 0
// when there is no answer.
func (h *killHarness) status(url string, headers ...string) int {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// until polls cond until it holds, failing after killWait with what the
// last poll saw.
func (h *killHarness) until(what string, cond func() (bool, string)) {
	h.t.Helper()
	pollUntil(h.t, killWait, what, cond)
}

// serving waits until url answers 200 to a GET with headers (name,
// value pairs).
func (h *killHarness) serving(what, url string, headers ...string) {
	h.t.Helper()
	h.until(what, func() (bool, string) {
		code := h.status(url, headers...)
		return code == 200, strconv.Itoa(code)
	})
}

// examplePolicy writes examples/policy.yaml into the harness's folder as
// policy.yaml, each old text of the replace pairs (old, new) replaced once,
// and returns its path and text.
func (h *killHarness) examplePolicy(replace ...string) (path string, doc []byte) {
	h.t.Helper()
	doc, err := os.ReadFile("../../examples/policy.yaml")
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(replace); i += 2 {
		if !bytes.Contains(doc, []byte(replace[i])) {
			h.t.Fatalf("examples/policy.yaml no longer has %q, which this test changes", replace[i])
		}
		doc = bytes.Replace(doc, []byte(replace[i]), []byte(replace[i+1]), 1)
	}
	path = filepath.Join(h.dir, "policy.yaml")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		h.t.Fatal(err)
	}
	return path, doc
}

// metrics scrapes the unlabelled or labelled samples of a Prometheus text
// page into a map keyed by the series as written (name{labels}).
func (h *killHarness) metrics(addr string) map[string]uint64 {
	out := map[string]uint64{}
	resp, err := h.http.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		series, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if v, err := strconv.ParseUint(value, 10, 64); err == nil {
			out[series] = v
		}
	}
	return out
}

// auditCounters are the sidecar's audit counters as /metrics shows them.
type auditCounters struct {
	captured, delivered, spooled, replayed, dropped, spoolRecords uint64
}

func (h *killHarness) auditCounters(admin string) auditCounters {
	m := h.metrics(admin)
	c := func(outcome string) uint64 {
		return m[`portcullis_audit_records_total{outcome="`+outcome+`"}`]
	}
	return auditCounters{captured: c("captured"), delivered: c("delivered"), spooled: c("spooled"),
		replayed: c("replayed"), dropped: c("dropped"), spoolRecords: m["portcullis_audit_spool_records"]}
}

func (c auditCounters) String() string {
	return fmt.Sprintf("captured=%d delivered=%d spooled=%d replayed=%d dropped=%d spool_records=%d",
		c.captured, c.delivered, c.spooled, c.replayed, c.dropped, c.spoolRecords)
}

// sidecarArgs are the flags of one sidecar run.
type sidecarArgs struct {
	listen, upstream, admin, collector, tokenFile, spool string
}

func (h *killHarness) startSidecar(name string, a sidecarArgs) *proc {
	h.t.Helper()
	policyFile, err := filepath.Abs("../../examples/policy.yaml")
	if err != nil {
		h.t.Fatal(err)
	}
	p := h.start(name, "sidecar", "--policy", policyFile, "--listen", a.listen, "--upstream", a.upstream,
		"--admin", a.admin, "--collector", "http://"+a.collector, "--collector-token-file", a.tokenFile,
		"--spool", a.spool, "--log-level", "warn")
	h.until(name+" readiness", func() (bool, string) {
		code := h.status("http://" + a.admin + "/readyz")
		return code == http.StatusOK, fmt.Sprintf("/readyz %d", code)
	})
	return p
}

// send makes one request per id through the sidecar on the public route,
// each carrying its own X-Request-ID.
func (h *killHarness) send(listen string, from, to int) {
	h.t.Helper()
	for i := from; i < to; i++ {
		if code := h.status("http://"+listen+"/v1/status", "X-Request-ID", killID(i)); code == 0 {
			h.t.Fatalf("request %s got no answer from the sidecar", killID(i))
		}
	}
}

func killID(i int) string { return "kill-" + strconv.Itoa(i) }

// storedIDs returns the request ids the collector stored, in storage order.
func storedIDs(t *testing.T, dataDir string) []string {
	t.Helper()
	var ids []string
	err := collector.QueryRecords(dataDir, collector.Filter{}, func(r *collector.StoredRecord) error {
		ids = append(ids, r.RequestID)
		return nil
	})
	if err != nil {
		t.Fatalf("query %s: %v", dataDir, err)
	}
	return ids
}

// spooledRecords counts the batches in the spool directory and the records
// their names declare (<seq>-<records>.otlp, see audit/spool.go).
func spooledRecords(t *testing.T, dir string) (files, records int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read spool: %v", err)
	}
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".otlp")
		_, n, ok2 := strings.Cut(base, "-")
		if !ok || !ok2 || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		k, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("spool file %q: %v", e.Name(), err)
		}
		files, records = files+1, records+k
	}
	return files, records
}

// checkExactlyOnce reports every id of [0, n) that is missing, duplicated or
// out of order in got, and every stranger.
func checkExactlyOnce(t *testing.T, got []string, n int) {
	t.Helper()
	count := map[string]int{}
	for _, id := range got {
		count[id]++
	}
	for i := range n {
		if c := count[killID(i)]; c != 1 {
			t.Errorf("request %s stored %d times, want 1", killID(i), c)
		}
		delete(count, killID(i))
	}
	for id, c := range count {
		t.Errorf("stored %d records with request id %q that the test never sent", c, id)
	}
	if len(got) != n {
		t.Errorf("stored %d records, want %d", len(got), n)
		return
	}
	for i, id := range got {
		if id != killID(i) {
			t.Errorf("storage position %d holds %s, want %s: the spool did not replay in order", i, id, killID(i))
			return
		}
	}
}

// A sidecar killed with SIGKILL while every record of N requests sits in its
// spool (the collector down), then restarted on the same spool with the
// collector up: the collector ends up with each of the N records exactly
// once, in request order, and the restarted sidecar counts N replayed and
// nothing dropped. M more requests then go straight through. Real
// processes throughout: the binary built from this package, HTTP over
// loopback, files in a temporary directory.
func TestKilledSidecarReplaysSpoolExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	waves := []int{600, 50, 50, 50}
	const n, m = 750, 40
	h := newKillHarness(t)
	keyFile, tokenFile := h.collectorFiles("kill-test-collector-token-0123456789abcdef")
	upAddr := freeAddr(t)
	h.start("upstream", "upstream", "--listen", upAddr)
	sc := sidecarArgs{listen: freeAddr(t), upstream: upAddr, admin: freeAddr(t), collector: freeAddr(t),
		tokenFile: tokenFile, spool: filepath.Join(h.dir, "spool")}

	// 1. The collector is down: every record ends up in the spool. The
	// first wave outgrows one batch (512 records); each later wave waits
	// for the one before to be spooled, so it lands in batches of its own.
	first := h.startSidecar("sidecar-1", sc)
	sent := 0
	for _, wave := range waves {
		h.send(sc.listen, sent, sent+wave)
		sent += wave
		h.until(fmt.Sprintf("%d records spooled", sent), func() (bool, string) {
			c := h.auditCounters(sc.admin)
			return c.spooled == uint64(sent) && c.spoolRecords == uint64(sent), c.String()
		})
	}
	if got := h.auditCounters(sc.admin); got != (auditCounters{captured: n, spooled: n, spoolRecords: n}) {
		t.Errorf("before the kill: %v, want captured=spooled=spool_records=%d and nothing else", got, n)
	}
	if sent != n {
		t.Fatalf("BUG: the waves add up to %d requests, not n=%d", sent, n)
	}

	// 2. SIGKILL: no Close, no flush; only what is on disk survives.
	first.signal(t, syscall.SIGKILL)
	files, recs := spooledRecords(t, sc.spool)
	if files < len(waves)+1 || recs != n {
		t.Fatalf("after the kill the spool holds %d batches of %d records, want at least %d batches of %d records in all",
			files, recs, len(waves)+1, n)
	}
	t.Logf("after the kill the spool holds %d batches of %d records", files, recs)

	// 3. The collector comes up where the sidecar was pointing; a new
	// sidecar on the same spool replays it.
	data := filepath.Join(h.dir, "audit")
	colMetricsAddr := freeAddr(t)
	col := h.start("collector", "collector", "--listen", sc.collector, "--data", data,
		"--signing-key", keyFile, "--token-file", tokenFile, "--metrics-listen", colMetricsAddr)
	h.until("collector health", func() (bool, string) {
		code := h.status("http://" + sc.collector + "/healthz")
		return code == http.StatusOK, fmt.Sprintf("/healthz %d", code)
	})
	sc.listen, sc.admin = freeAddr(t), freeAddr(t)
	second := h.startSidecar("sidecar-2", sc)
	h.until(fmt.Sprintf("%d records replayed", n), func() (bool, string) {
		c := h.auditCounters(sc.admin)
		return c.replayed == n && c.spoolRecords == 0, c.String()
	})
	h.until(fmt.Sprintf("%d records stored", n), func() (bool, string) {
		ids := storedIDs(t, data)
		return len(ids) >= n, fmt.Sprintf("%d stored", len(ids))
	})
	if got := h.auditCounters(sc.admin); got != (auditCounters{replayed: n}) {
		t.Errorf("after the replay: %v, want replayed=%d and nothing else", got, n)
	}
	if files, recs := spooledRecords(t, sc.spool); files != 0 {
		t.Errorf("after the replay the spool still holds %d batches of %d records", files, recs)
	}
	checkExactlyOnce(t, storedIDs(t, data), n)

	// 4. With the collector up, new requests are delivered directly.
	h.send(sc.listen, n, n+m)
	h.until(fmt.Sprintf("%d records delivered", m), func() (bool, string) {
		c := h.auditCounters(sc.admin)
		return c.delivered == m, c.String()
	})
	if got := h.auditCounters(sc.admin); got != (auditCounters{captured: m, delivered: m, replayed: n}) {
		t.Errorf("after %d more requests: %v, want captured=delivered=%d replayed=%d", m, got, m, n)
	}
	colMetrics := h.metrics(colMetricsAddr)
	if got := colMetrics["portcullis_collector_records_total"]; got != n+m {
		t.Errorf("collector counts %d records stored, want %d", got, n+m)
	}
	t.Logf("collector: %d batches, %d duplicate batches acknowledged",
		colMetrics["portcullis_collector_batches_total"], colMetrics["portcullis_collector_duplicates_total"])

	// 5. Orderly stop, then the store is checked at rest.
	if err := second.signal(t, syscall.SIGTERM); err != nil {
		t.Errorf("sidecar-2 stopped with %v", err)
	}
	if err := col.signal(t, syscall.SIGTERM); err != nil {
		t.Errorf("collector stopped with %v", err)
	}
	checkExactlyOnce(t, storedIDs(t, data), n+m)
	pub, err := collector.LoadPublicKey(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := collector.Verify(data, pub)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !rep.OK() || rep.Records != n+m {
		t.Errorf("verify: ok=%v records=%d (want %d) problems=%v", rep.OK(), rep.Records, n+m, rep.Problems)
	}
}
