package collector

import (
	"bufio"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestUnauthenticatedHeadersBounded: a client without a credential may
// send only a small request head: 64 connections (8 addresses, 8 each,
// the unauthenticated cap) each sending 1 MiB of headers and never ending
// them held 64+ MiB of the collector's heap for the header timeout, and
// an outsider on 512 addresses (or one IPv6 /48) could hold GBs before
// any credential was checked. A head over the bound is answered 431 and
// its connection closed.
func TestUnauthenticatedHeadersBounded(t *testing.T) {
	st, err := OpenStore(t.TempDir(), StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	col, err := New(st, Config{Token: testToken, UnauthTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := col.HTTPServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); st.Close() })

	const addrs, perAddr, headBytes = 8, 8, 1 << 20
	line := "X-Pad: " + strings.Repeat("a", 1000) + "\r\n"
	head := []byte("POST /v1/logs HTTP/1.1\r\nHost: collector\r\n" + strings.Repeat(line, headBytes/len(line)))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	conns, answers := []net.Conn{}, map[string]int{}
	for a := range addrs {
		for range perAddr {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(a+2))}}
			c, err := d.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			conns = append(conns, c)
			wg.Go(func() {
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				c.Write(head) // fails once the server refused the head and closed
			})
		}
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	held := int64(during.HeapInuse) - int64(before.HeapInuse)
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		k := "no answer"
		if err == nil {
			k = resp.Status
		}
		answers[k]++
	}
	t.Logf("%d connections each sending %d bytes of headers: heap %+d bytes, answers %v", len(conns), len(head), held, answers)
	if held > 16<<20 || answers["431 Request Header Fields Too Large"] != len(conns) {
		t.Errorf("%d unauthenticated connections, each sending %d bytes of headers, hold %d MiB of the collector's heap; answers %v; want each head refused 431 past a small bound", len(conns), len(head), held>>20, answers)
	}
}
