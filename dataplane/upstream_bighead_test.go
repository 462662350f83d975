package dataplane

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// The service's response head was read into fasthttp's default 4 KiB
// buffer, so a head of 4-16 KiB (a few cookies and a content security
// policy) was a 502 whose log line said only "malformed or unreadable
// response". A head now has the bound a request's has (MaxHeaderBytes,
// 16 KiB), and a larger one is a 502 whose log names the limit.
func TestUpstreamResponseHeadUpToMaxHeaderBytes(t *testing.T) {
	logs := &syncBuffer{}
	st, up := startRecorded(t, func(c *Config) { c.Logger = zerolog.New(logs) })
	up.respond = func(w io.Writer, r *http.Request) {
		kib, _ := strconv.Atoi(r.URL.Query().Get("kib"))
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Security-Policy: "+strings.Repeat("a", kib<<10)+"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok") // the recorder closes after it
	}
	if r := do(t, st.addr, "GET", "/v1/status?kib=10", nil, ""); r.status != 200 || r.body != "ok" || len(r.header.Get("Content-Security-Policy")) != 10<<10 {
		t.Errorf("a 10 KiB response head: %d %q, want 200 with its header", r.status, r.body)
	}
	if r := do(t, st.addr, "GET", "/v1/status?kib=20", nil, ""); r.status != 502 {
		t.Errorf("a 20 KiB response head: %d, want 502", r.status)
	}
	if want := "response head larger than 16384 bytes"; !strings.Contains(logs.String(), want) {
		t.Errorf("log does not say %q:\n%s", want, logs.String())
	}
}
