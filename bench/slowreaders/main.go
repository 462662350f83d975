// Command slowreaders measures the memory of a sidecar that streams large
// responses to slow clients (issue 12, item 9: 12 slow readers of a 60 MiB
// response drove RSS to 796 MiB).
//
// It starts a raw upstream that answers every request with a body of
// --size bytes (Content-Length, written 32 KiB at a time, never held in
// memory), starts `portcullis sidecar` in front of it, and runs --readers
// clients at once, each reading its response at --rate bytes a second.
// It samples the sidecar's RSS from /proc while they read and prints the
// peak (VmHWM), the largest sample and the RSS after they finished.
//
//	go build -o bin/portcullis ./cmd/portcullis
//	go run ./bench/slowreaders --bin bin/portcullis
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/portcullis", "portcullis `binary`")
	policy := flag.String("policy", "examples/policy.yaml", "policy `file` for the sidecar")
	readers := flag.Int("readers", 50, "concurrent slow `clients`")
	size := flag.Int64("size", 60<<20, "response body `bytes`")
	rate := flag.Int64("rate", 4<<20, "bytes a second each client reads")
	flag.Parse()
	if err := run(*bin, *policy, *readers, *size, *rate); err != nil {
		fmt.Fprintln(os.Stderr, "slowreaders:", err)
		os.Exit(1)
	}
}

func run(bin, policy string, readers int, size, rate int64) error {
	up, err := startUpstream(size)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "slowreaders")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	listen, admin := freeAddr(), freeAddr()
	cmd := exec.Command(bin, "sidecar", "--policy", policy, "--upstream", up, "--listen", listen,
		"--admin", admin, "--audit-file", filepath.Join(dir, "audit.jsonl"), "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start %s: %w", bin, err)
	}
	defer cmd.Process.Kill()
	if err := waitReady(admin); err != nil {
		return err
	}
	idle := rss(cmd.Process.Pid, "VmRSS")
	stop := make(chan struct{})
	var peak int64
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				peak = max(peak, rss(cmd.Process.Pid, "VmRSS"))
			}
		}
	}()
	start := time.Now()
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- slowRead(listen, size, rate)
		}()
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			fmt.Fprintln(os.Stderr, "reader:", err)
		}
	}
	fmt.Printf("readers %d, body %d MiB, %d KiB/s each, %.1fs; failed %d\n",
		readers, size>>20, rate>>10, time.Since(start).Seconds(), failed)
	fmt.Printf("sidecar RSS: idle %d MiB, largest sample %d MiB, peak (VmHWM) %d MiB, after %d MiB\n",
		idle>>20, peak>>20, rss(cmd.Process.Pid, "VmHWM")>>20, rss(cmd.Process.Pid, "VmRSS")>>20)
	if failed > 0 {
		return fmt.Errorf("%d readers failed", failed)
	}
	return nil
}

// slowRead requests the large body and reads it at rate bytes a second.
func slowRead(addr string, size, rate int64) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	step := rate / 10
	var n int64
	for tick := time.NewTicker(100 * time.Millisecond); ; <-tick.C {
		m, err := io.CopyN(io.Discard, resp.Body, step)
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("after %d bytes: %w", n, err)
		}
	}
	if n != size {
		return fmt.Errorf("read %d bytes, want %d", n, size)
	}
	return nil
}

// startUpstream serves every request with size bytes of body.
func startUpstream(size int64) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	piece := []byte(strings.Repeat("0123456789abcdef", 2048))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", size)
					for left := size; left > 0; {
						p := piece[:min(left, int64(len(piece)))]
						if _, err := c.Write(p); err != nil {
							return
						}
						left -= int64(len(p))
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), nil
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(admin string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + admin + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("sidecar not ready on %s after 30s", admin)
}

// rss reads a size field (VmRSS, VmHWM) of /proc/pid/status, in bytes.
func rss(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
