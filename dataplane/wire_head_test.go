package dataplane

import (
	"strings"
	"testing"
)

// Every Connection line of a request counts, and every name of each
// line's list: only the first line's names were removed, so
// "Connection: keep-alive" followed by "Connection: X-Hop" forwarded
// X-Hop, a header the client declared hop-by-hop, to the service.
func TestConnectionEveryLineHopByHop(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	for i, conn := range []string{
		"Connection: keep-alive\r\nConnection: X-Hop, X-Other\r\n",
		"Connection: keep-alive\r\nconnection: x-other, X-HOP\r\n",
		"Connection: X-Other\r\nX-Pad: 1\r\nCONNECTION: ,, X-Hop ,\r\n",
		"Connection: X-Hop, X-Other\r\n",
	} {
		n := len(up.received())
		req := "GET /v1/status HTTP/1.1\r\nHost: svc\r\nX-Hop: 1\r\nX-Other: 2\r\nX-Keep: 3\r\n" + conn + "\r\n"
		if r := raw(t, st.addr, req); r.status != 200 {
			t.Fatalf("%d: status %d, want 200", i, r.status)
		}
		got := up.only(t, n)
		for _, name := range []string{"X-Hop", "X-Other", "Connection"} {
			if v := got.header.Values(name); len(v) > 0 {
				t.Errorf("%d %q: the upstream got %s %q, listed hop-by-hop", i, strings.TrimSpace(conn), name, v)
			}
		}
		if got.header.Get("X-Keep") != "3" {
			t.Errorf("%d: the upstream lost X-Keep, which no Connection line listed", i)
		}
	}
}
