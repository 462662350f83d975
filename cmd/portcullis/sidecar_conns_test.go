package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/examples/upstream"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// --max-conns-per-ip reaches the data plane: past it a connection is
// closed at accept while those within it are served.
func TestSidecarConnectionFlags(t *testing.T) {
	upAddr := freeAddr(t)
	up := &fasthttp.Server{Handler: upstream.Handler}
	go up.ListenAndServe(upAddr)
	defer up.Shutdown()
	var f sidecarFlags
	fs := flag.NewFlagSet("sidecar", flag.ContinueOnError)
	f.register(fs)
	err := fs.Parse([]string{"--policy", "../../examples/policy.yaml", "--upstream", upAddr, "--listen", freeAddr(t),
		"--admin", freeAddr(t), "--audit-file", filepath.Join(t.TempDir(), "audit.jsonl"), "--max-conns-per-ip", "2"})
	if err != nil {
		t.Fatal(err)
	}
	if f.maxConns != 0 || f.maxPerIP != 2 {
		t.Fatalf("max-conns %d, max-conns-per-ip %d, want 0 (sized to the memory limit) and 2", f.maxConns, f.maxPerIP)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sidecar(ctx, f, zerolog.Nop()) }()
	defer func() { cancel(); <-done }()
	poll(t, "readiness", func() bool { return get(t, "http://"+f.admin+"/readyz", "") == 200 })

	status := func(c net.Conn) (int, error) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for range 2 {
		c, err := net.Dial("tcp", f.listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got, err := status(c); got != 200 {
			t.Fatalf("connection within the cap: %d, %v", got, err)
		}
	}
	c, err := net.Dial("tcp", f.listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := status(c); err == nil {
		t.Fatalf("third connection from one address answered %d, want it closed", got)
	}
}

// --upstream-max-conns reaches the data plane: without public_routes in
// the policy, public routes may hold a quarter of the upstream
// connections, so with 8 the cap /metrics shows is 2 (with the default
// 1024, 256); a tenant, in every class, half of
// them unless --tenant-max-in-flight says otherwise.
func TestSidecarUpstreamMaxConnsFlag(t *testing.T) {
	upAddr := freeAddr(t)
	up := &fasthttp.Server{Handler: upstream.Handler}
	go up.ListenAndServe(upAddr)
	defer up.Shutdown()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--upstream-max-conns", "8"}, []string{"portcullis_public_max_in_flight 2\n", "portcullis_tenant_max_in_flight 4\n"}},
		{nil, []string{"portcullis_public_max_in_flight 256\n", "portcullis_tenant_max_in_flight 512\n"}},
		{[]string{"--tenant-max-in-flight", "100"}, []string{"portcullis_tenant_max_in_flight 100\n"}},
	} {
		var f sidecarFlags
		fs := flag.NewFlagSet("sidecar", flag.ContinueOnError)
		f.register(fs)
		err := fs.Parse(append([]string{"--policy", "../../examples/policy.yaml", "--upstream", upAddr, "--listen", freeAddr(t),
			"--admin", freeAddr(t), "--audit-file", filepath.Join(t.TempDir(), "audit.jsonl")}, tc.args...))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- sidecar(ctx, f, zerolog.Nop()) }()
		poll(t, "readiness", func() bool { return get(t, "http://"+f.admin+"/readyz", "") == 200 })
		resp, err := http.Get("http://" + f.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range tc.want {
			if !strings.Contains(string(page), want) {
				t.Errorf("sidecar %q: /metrics lacks %q", tc.args, want)
			}
		}
		cancel()
		<-done
	}
}
