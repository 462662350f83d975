package alert

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The webhook's errors are the JSON shape of DESIGN.md, request_id
// included (the caller's X-Request-ID when well formed, else one of the
// collector's), and a body that ends before its declared length is a 400
// naming that, not 413 "at most 1 MiB" (read100: both were wrong).
func TestAlertmanagerErrorShape(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	const tok = "collector-token-0123456789abcdef0123"
	srv := httptest.NewServer(AlertmanagerHandler(r.eng, []string{tok}))
	defer srv.Close()
	read := func(resp *http.Response) (int, map[string]string, http.Header) {
		t.Helper()
		defer resp.Body.Close()
		var m map[string]string
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%d answer %q is not JSON: %v", resp.StatusCode, b, err)
		}
		return resp.StatusCode, m, resp.Header
	}
	for _, c := range []struct {
		method, token, id, body string
		status                  int
		code                    string
	}{
		{"GET", tok, "", "", 405, "method_not_allowed"},
		{"POST", "wrong", "am-req-1", amBody("firing", "4"), 401, "unauthenticated"},
		{"POST", tok, "", `{"version":"4","alerts":[{"status":"firing","labels":{}}]}`, 400, "bad_request"},
		{"POST", tok, "bad id with spaces", strings.Repeat("x", 1<<20+1), 413, "payload_too_large"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+"/v1/alertmanager", strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+c.token)
		if c.id != "" {
			req.Header.Set("X-Request-ID", c.id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		status, m, h := read(resp)
		switch {
		case status != c.status || m["error"] != c.code || m["message"] == "":
			t.Errorf("%s %q: %d %v, want %d %s with a message", c.method, c.token, status, m, c.status, c.code)
		case m["request_id"] == "" || h.Get("X-Request-ID") != m["request_id"]:
			t.Errorf("%s %q: request_id %q, header %q: want one, the same in both", c.method, c.token, m["request_id"], h.Get("X-Request-ID"))
		case c.id == "am-req-1" && m["request_id"] != c.id:
			t.Errorf("request_id %q, want the caller's %q", m["request_id"], c.id)
		case c.id == "bad id with spaces" && m["request_id"] == c.id:
			t.Errorf("a malformed X-Request-ID was echoed")
		}
	}

	// A body cut short: 100 bytes declared, 10 sent, then the client
	// closes its writing side.
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /v1/alertmanager HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer "+tok+"\r\nContent-Length: 100\r\n\r\n{\"version\"")
	conn.(*net.TCPConn).CloseWrite()
	b, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(b), "HTTP/1.1 400 ") || !strings.Contains(string(b), `"error":"bad_request"`) || !strings.Contains(string(b), "ended before") {
		t.Errorf("a body cut short got %q, want 400 bad_request saying the body ended early", b)
	}
}
