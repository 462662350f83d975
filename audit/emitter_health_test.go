package audit_test

import (
	"bytes"
	"encoding/json"
	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"
)

// logBuffer collects log lines written by goroutines of an Emitter.
type logBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// entries returns the JSON log lines whose field key equals value.
func (l *logBuffer) entries(t *testing.T, key, value string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(l.buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m[key] == value {
			out = append(out, m)
		}
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// A sidecar with a wrong collector token logs it, once per interval, with
// the collector's answer, and Health says so; it used to spool in silence
// (issue 13, item 7). Real collector over loopback.
func TestEmitterLogsUnauthenticatedOnce(t *testing.T) {
	t.Parallel()
	srv, _ := startCollector(t, t.TempDir(), newTestKey(t), collector.StoreConfig{})
	var logs logBuffer
	log := zerolog.New(&logs)
	cfg := FastConfig(srv.URL, t.TempDir())
	cfg.Token, cfg.LogInterval, cfg.Log = "wrong-token-abcdef", time.Hour, &log
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	EmitN(t, e, 300)
	WaitFor(t, "several refused attempts", func() bool { return e.Stats().Retries >= 4 })
	got := logs.entries(t, "class", FailUnauthenticated)
	if len(got) != 1 {
		t.Fatalf("%d log lines of class unauthenticated after %d refusals, want 1 (rate-limited):\n%s", len(got), e.Stats().Retries, logs.String())
	}
	answer, _ := got[0]["answer"].(string)
	if !strings.HasPrefix(answer, "401 ") || !strings.Contains(answer, "a valid bearer token or client certificate is required") {
		t.Errorf("logged answer %q, want the collector's 401 and its message", answer)
	}
	if got[0]["level"] != "warn" || !strings.Contains(got[0]["message"].(string), "--collector-token-file") {
		t.Errorf("log line %v: want a warning naming the flag to check", got[0])
	}
	if strings.Contains(logs.String(), cfg.Token) {
		t.Error("the log holds the collector token")
	}
	h := e.Health()
	if !h.Failing || !strings.HasPrefix(h.LastFailure, "unauthenticated: 401") || !strings.Contains(h.String(), "failing since") {
		t.Errorf("Health = %+v (%s), want failing with the 401", h, h)
	}
}

// Each failure class is logged on its own (one class does not mute
// another), and the first delivery after failures logs the recovery.
func TestEmitterLogsUnreachableThenRecovery(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	var logs logBuffer
	log := zerolog.New(&logs)
	cfg := FastConfig("http://"+addr, t.TempDir())
	cfg.Token, cfg.LogInterval, cfg.Log = testToken, time.Hour, &log
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	EmitN(t, e, 100)
	WaitFor(t, "refused attempts", func() bool { return e.Stats().Retries >= 3 })
	if got := logs.entries(t, "class", FailUnreachable); len(got) != 1 || !strings.Contains(got[0]["answer"].(string), "refused") {
		t.Fatalf("unreachable log lines %v, want one naming the refusal:\n%s", got, logs.String())
	}
	if e.Health().LastDelivery != (time.Time{}) || !e.Health().Failing {
		t.Fatalf("Health = %+v, want failing and nothing delivered", e.Health())
	}

	// The collector comes up on that address; the spool replays.
	startCollectorOn(t, addr)
	WaitFor(t, "the replay", func() bool { return e.Stats().Replayed+e.Stats().Delivered >= 100 })
	if got := logs.entries(t, "message", "audit collector acknowledging batches again"); len(got) != 1 {
		t.Errorf("%d recovery lines, want 1:\n%s", len(got), logs.String())
	}
	if h := e.Health(); h.Failing || h.LastDelivery.IsZero() || !strings.HasPrefix(h.String(), "delivering") {
		t.Errorf("Health after recovery = %+v (%s)", h, h)
	}
}

// startCollectorOn serves a real Collector on addr, retrying the listen
// while the port is briefly unavailable.
func startCollectorOn(t *testing.T, addr string) (*httptest.Server, *collector.Store) {
	t.Helper()
	st, err := collector.OpenStore(t.TempDir(), collector.StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	col, err := collector.New(st, collector.Config{Token: testToken, MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	WaitFor(t, "the collector's address", func() bool {
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	srv := httptest.NewUnstartedServer(col)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() { srv.Close(); st.Close() })
	return srv, st
}

// The OTLP resource names the protected service, the instance and the
// pod, as an OpenTelemetry Collector needs to tie a record to a service
// (issue 13, item 7); empty ones are left out.
func TestResourceAttributes(t *testing.T) {
	res := Resource{Service: "billing", Host: "node-1", InstanceID: "inst-7", Pod: "billing-5f7c-x2", Namespace: "prod"}
	r := SampleRecord(1)
	got := decodeResource(t, EncodeBatch(nil, res, "inst-7-1", r))
	want := map[string]string{"service.name": "billing", "service.instance.id": "inst-7", "host.name": "node-1",
		"k8s.pod.name": "billing-5f7c-x2", "k8s.namespace.name": "prod", AttrInstanceID: "inst-7", AttrBatchID: "inst-7-1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("resource %s = %q, want %q", k, got[k], v)
		}
	}
	res = Resource{Service: "billing", InstanceID: "inst-7"}
	got = decodeResource(t, EncodeBatch(nil, res, "inst-7-2", r))
	for _, k := range []string{"k8s.pod.name", "k8s.namespace.name", "host.name"} {
		if _, ok := got[k]; ok {
			t.Errorf("resource has %s = %q, want it left out when unknown", k, got[k])
		}
	}
}

// decodeResource decodes an encoded batch with the OpenTelemetry protobuf
// types (a decoder we did not write) and returns its resource attributes.
func decodeResource(t *testing.T, batch []byte) map[string]string {
	t.Helper()
	var req logspb.LogsData
	if err := proto.Unmarshal(batch, &req); err != nil {
		t.Fatalf("batch does not decode as OTLP: %v", err)
	}
	if len(req.GetResourceLogs()) != 1 {
		t.Fatalf("%d resource logs, want 1", len(req.GetResourceLogs()))
	}
	out := map[string]string{}
	for _, kv := range req.GetResourceLogs()[0].GetResource().GetAttributes() {
		out[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	return out
}

// ClientTLS names what is wrong with its files.
func TestClientTLSErrors(t *testing.T) {
	if cfg, err := ClientTLS("", "", ""); cfg != nil || err != nil {
		t.Errorf("ClientTLS with nothing = %v, %v; want nil, nil", cfg, err)
	}
	if _, err := ClientTLS("", "client.pem", ""); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("a certificate without a key: %v", err)
	}
	missing := t.TempDir() + "/no-ca.pem"
	if _, err := ClientTLS(missing, "", ""); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("a missing CA file: %v, want the path named", err)
	}
}
