package dataplane

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// The bound on ?seconds= of a profile held only for the query of a GET of
// profile and trace, while net/http/pprof reads seconds with FormValue:
// a POST whose form body said seconds=86400 held the CPU profiler for a
// day, and heap?seconds=86400 (a delta profile, for every named profile)
// held one of the admin listener's 64 connections for a day, so 64 of
// them shut /healthz out. Every such request is now refused at once: a
// profile is read with GET or HEAD (symbol excepted: its POST body is
// addresses), and every seconds of its query is bounded, for every path.
func TestAdminPprofSecondsBounded(t *testing.T) {
	st := startStack(t, nil)
	admin := &Admin{Server: st.srv, Pprof: true}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := admin.NewServer()
	go srv.Serve(admin.Listener(ln))
	t.Cleanup(func() { srv.Shutdown() })
	base := "http://" + ln.Addr().String()
	// The timeout only ends a request the server would hold for 61 s or
	// a day, so that the failure is reported; it asserts nothing.
	client := &http.Client{Timeout: 30 * time.Second}
	check := func(name string, resp *http.Response, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v; want a refusal at once", name, err)
			return
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d %.80q; want 400 or 405", name, resp.StatusCode, page)
		}
	}
	form := url.Values{"seconds": {"86400"}}.Encode()
	for _, path := range []string{"/debug/pprof/profile", "/debug/pprof/trace", "/debug/pprof/heap"} {
		resp, err := client.Post(base+path, "application/x-www-form-urlencoded", strings.NewReader(form))
		check("POST "+path+" seconds=86400 in the body", resp, err)
	}
	for _, path := range []string{"/debug/pprof/heap?seconds=61", "/debug/pprof/goroutine?seconds=86400", "/debug/pprof/allocs?debug=1&seconds=86400"} {
		resp, err := client.Get(base + path)
		check("GET "+path, resp, err)
	}
	// Still served: a short delta profile and the index.
	for _, path := range []string{"/debug/pprof/heap?seconds=1", "/debug/pprof/"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d; want 200", path, resp.StatusCode)
		}
	}
}

// /debug/pprof/cmdline served the command line as it was given: a
// --collector URL with its password, a (deprecated) --etcd-password. It is
// not served; the profiles are.
func TestAdminPprofNoCmdline(t *testing.T) {
	st := startStack(t, nil)
	admin := &Admin{Server: st.srv, Pprof: true}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := admin.NewServer()
	go srv.Serve(admin.Listener(ln))
	t.Cleanup(func() { srv.Shutdown() })
	resp, err := http.Get("http://" + ln.Addr().String() + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || strings.Contains(string(page), os.Args[0]) {
		t.Errorf("GET /debug/pprof/cmdline: %d %.120q; want 404 without the command line", resp.StatusCode, page)
	}
}
