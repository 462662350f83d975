package main

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/rs/zerolog"
)

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The whole stack, as `portcullis dev` runs it: real etcd in process, the
// collector on loopback, the sidecar auditing to it over OTLP/HTTP. Every
// request becomes exactly one stored record, and no secret sent in any
// place a secret can travel shows up in anything the stack wrote: audit
// store, spool, etcd data, state, logs or metrics.
func TestDevStackRecordsEveryRequestAndNoSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	data := t.TempDir()
	logs := &lockedBuffer{}
	f := devFlags{data: data, policy: "../../examples/policy.yaml", listen: freeAddr(t), upstream: freeAddr(t),
		admin: freeAddr(t), collector: freeAddr(t), prefix: "/portcullis/test", logLevel: "debug"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dev(ctx, f, zerolog.New(logs).Level(zerolog.DebugLevel)) }()
	poll(t, "the dev stack", func() bool {
		select {
		case err := <-done:
			t.Fatalf("dev stopped while starting: %v\n%s", err, logs.String())
		default:
		}
		return get(t, "http://"+f.admin+"/readyz", "") == 200
	})

	canaries := []string{
		"DemoAcmeHrisSecret000000000000000001", // a real key's secret
		"CanaryCookie7f3a", "CanaryQuery9b1c", "CanaryBody4d2e", "CanaryWrongSecret0123456789abcdefABCDEF",
		"CanaryBearer.eyJ0b2tlbiI6ImNhbmFyeSJ9.c2ln", "CanaryHeaderValue55aa",
	}
	const hris = "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"
	requests := []struct {
		method, path, body string
		headers            map[string]string
	}{
		{"GET", "/v1/users/1?q=" + canaries[2], "", map[string]string{"X-API-Key": hris, "Cookie": "session=" + canaries[1]}},
		{"POST", "/v1/records?secret=" + canaries[2], canaries[3], map[string]string{"Authorization": "Bearer " + hris}},
		{"GET", "/v1/users", "", map[string]string{"X-API-Key": "pk_acmehris1_" + canaries[4]}},
		{"GET", "/v1/users", "", map[string]string{"Authorization": "Bearer " + canaries[5]}},
		{"GET", "/v1/reports/1", "", map[string]string{"X-API-Key": hris, "X-Custom": canaries[6]}},
		{"GET", "/v1/status?api_key=" + hris, "", nil},
	}
	for _, r := range requests {
		req, _ := http.NewRequest(r.method, "http://"+f.listen+r.path, strings.NewReader(r.body))
		for k, v := range r.headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	token, err := os.ReadFile(filepath.Join(data, "collector-token"))
	if err != nil {
		t.Fatal(err)
	}
	metrics := fetch(t, "http://"+f.admin+"/metrics") + fetchBearer(t, "http://"+f.collector+"/metrics", strings.TrimSpace(string(token)))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop")
	}
	if g := goroutinesOf("main.devCollector", "main.serveDevUpstream", "main.serve", "main.watchPolicyFile", "main.dev"); g != "" {
		t.Errorf("goroutines of dev still running after it returned:\n%s", g)
	}

	var stored []collector.StoredRecord
	if err := collector.QueryRecords(filepath.Join(data, "audit"), collector.Filter{}, func(r *collector.StoredRecord) error {
		stored = append(stored, *r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(requests) {
		t.Fatalf("collector stored %d records for %d requests", len(stored), len(requests))
	}
	first := stored[0]
	if first.Tenant != "acme" || first.Client != "acme-hris" || first.KeyID != "acmehris1" || first.Route != "/v1/users/{id}" ||
		first.Path != "/v1/users/1" || first.Status != 200 || first.Decision != "allowed" || first.AuthMethod != "api_key" {
		t.Errorf("first stored record = %+v", first)
	}
	pub := filepath.Join(data, "audit-signing.key.pub")
	if rep, err := collector.Verify(filepath.Join(data, "audit"), mustPublicKey(t, pub)); err != nil || !rep.OK() {
		t.Errorf("verify: %v %+v", err, rep)
	}

	search := map[string]string{"logs": logs.String(), "metrics": metrics}
	filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			search[path] = string(b)
		}
		return nil
	})
	if len(search) < 6 {
		t.Fatalf("found only %d places to search", len(search))
	}
	// The search must see what was written: the key id (not secret) is there.
	seen := 0
	for _, text := range search {
		if strings.Contains(text, "acmehris1") {
			seen++
		}
	}
	if seen < 2 {
		t.Fatalf("the key id appears in %d searched places; the search reads nothing", seen)
	}
	for where, text := range search {
		for _, c := range canaries {
			if strings.Contains(text, c) {
				t.Errorf("%s contains the secret %q", where, c)
			}
		}
	}
}

func fetch(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// fetchBearer is fetch with a bearer token (the collector's /metrics
// answers a sender only).
func fetchBearer(t *testing.T, url, token string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func mustPublicKey(t *testing.T, path string) []byte {
	t.Helper()
	k, err := collector.LoadPublicKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
