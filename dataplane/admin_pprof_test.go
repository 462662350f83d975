package dataplane

import (
	"bufio"
	"encoding/json"
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
	ln := pprofAdmin(t)
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
	ln := pprofAdmin(t)
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

// The seconds bound read the query fasthttp parses, which ends at a '#',
// while net/http/pprof behind the adaptor reads the target as it came
// (url.ParseRequestURI keeps a '#' in the query): heap?x#&seconds=86400
// passed the bound as a query without seconds and held the connection
// for a day as a delta profile (profile?x#&seconds=86400: the CPU
// profiler). It is refused at once, as the query net/http reads says.
func TestAdminPprofSecondsBehindHash(t *testing.T) {
	ln := pprofAdmin(t)
	for _, target := range []string{"/debug/pprof/heap?x#&seconds=86400", "/debug/pprof/heap#?seconds=86400", "/debug/pprof/goroutine?debug=1#&seconds=61"} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		// The deadline only ends a request the server would hold for a
		// day, so that the failure is reported; a refusal comes at once.
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Errorf("GET %s: %v; want a refusal at once", target, err)
			c.Close()
			continue
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %d %.80q; want 400", target, resp.StatusCode, page)
		}
	}
}

// pprofAdmin serves a stack's admin listener with --pprof on loopback
// until the test ends and returns its listener.
func pprofAdmin(t *testing.T) net.Listener {
	t.Helper()
	st := startStack(t, nil)
	admin := &Admin{Server: st.srv, Pprof: true}
	return listenAdmin(t, admin)
}

// listenAdmin serves admin on a loopback port, with its own server and
// listener (their bounds), until the test ends, and returns the listener.
func listenAdmin(t *testing.T, admin *Admin) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := admin.NewServer()
	go srv.Serve(admin.Listener(ln))
	t.Cleanup(func() { srv.Shutdown() })
	return ln
}

// The admin listener's errors were plain text ("not found"), where every
// other Portcullis listener answers the JSON error shape. Each refusal
// now names its problem in that shape, over a real socket.
func TestAdminErrorsAreJSON(t *testing.T) {
	ln := pprofAdmin(t)
	for _, c := range []struct {
		method, target, reqID string
		status                int
		code, message         string
	}{
		{"GET", "/nope", "", 404, "not_found", "no such path on the admin listener"},
		{"GET", "/debug/pprof/cmdline", "probe-7", 404, "not_found", "cmdline is not served"},
		{"GET", "/debug/pprof/profile?seconds=86400", "", 400, "bad_request", "seconds over"},
		{"POST", "/debug/pprof/heap", "", 405, "method_not_allowed", "profiles are read with GET"},
	} {
		req, err := http.NewRequest(c.method, "http://"+ln.Addr().String()+c.target, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.reqID != "" {
			req.Header.Set("X-Request-ID", c.reqID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error, Message string
			RequestID      string `json:"request_id"`
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != c.status || body.Error != c.code ||
			!strings.Contains(body.Message, c.message) || body.RequestID == "" || c.reqID != "" && body.RequestID != c.reqID ||
			resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %q (%s); want %d, the JSON error shape with error %q, a message naming %q, the request id",
				c.method, c.target, resp.StatusCode, raw, resp.Header.Get("Content-Type"), c.status, c.code, c.message)
		}
	}
}
