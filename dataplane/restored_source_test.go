package dataplane

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// TestRestoredHeadSourceAsTheHandlers: a small declared body that stalls
// reaches errorHandler with its head restored (headNames); behind a
// trusted proxy its record named the source the forwarded headers give
// even for a head step 1 refuses, which the handler records with the
// proxy's address: a header name scanHeaders stops at before the
// Forwarded line hid it, so X-Forwarded-For beside Forwarded, which the
// handler refuses, named the X-Forwarded-For client; a header of
// refuse_headers, its X-Forwarded-For client.
func TestRestoredHeadSourceAsTheHandlers(t *testing.T) {
	st, _ := startRecorded(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	swapDoc(t, st.store, func(d *policy.Document) {
		d.TrustedProxies = []string{"127.0.0.9/32"}
		d.RefuseHeaders = []string{"X-Auth-Token"}
	})
	for _, c := range []struct{ name, bad string }{
		{"underscore name", "Bad_Name: 1\r\n"},
		{"refused header, no Forwarded", "X-Auth-Token: 1\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := "restored-" + strings.NewReplacer(" ", "-", ",", "").Replace(c.name)
			head := "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-Request-ID: " + id + "\r\nX-API-Key: " + hrisKey + "\r\nContent-Length: 100\r\n" +
				c.bad + "X-Forwarded-For: 198.51.100.66\r\n"
			if !strings.Contains(c.name, "no Forwarded") {
				head += "Forwarded: for=198.51.100.7\r\n"
			}
			head += "\r\n"
			r := proxiedFirstAnswer(t, st.addr, head+"{", "")
			if r.status != 400 {
				t.Fatalf("answer %d %q, want 400", r.status, r.body)
			}
			rec := st.sink.withRequestID(t, r.errorBody(t).RequestID)
			// The same head without a body, which the handler decides.
			ref := proxiedFirstAnswer(t, st.addr, strings.Replace(strings.Replace(head, "Content-Length: 100\r\n", "", 1), id, id+"-ref", 1), "")
			want := st.sink.withRequestID(t, ref.errorBody(t).RequestID)
			if got := want.SourceIP; ref.status != 400 || got != netip.MustParseAddr("127.0.0.9") {
				t.Fatalf("the handler answered %d, audited source %v", ref.status, got)
			}
			if string(rec.Path()) != string(want.Path()) {
				t.Errorf("audited path %q for a head step 1 refuses, the handler's record of it %q", rec.Path(), want.Path())
			}
			if want := netip.MustParseAddr("127.0.0.9"); rec.SourceIP != want {
				t.Errorf("audited source %v for a head step 1 refuses, want the proxy's %v, as the handler records it", rec.SourceIP, want)
			}
		})
	}
}

// TestRestoredHeadUserAgentAsTheHandlers: a restored head (headNames)
// with two User-Agent lines was recorded with the first, where the
// handler records fasthttp's, the last: the same head named two clients.
func TestRestoredHeadUserAgentAsTheHandlers(t *testing.T) {
	st, _ := startRecorded(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	head := func(id, cl string) string {
		return "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: first/1\r\nUser-Agent: second/2\r\nX-Request-ID: " + id + "\r\nX-API-Key: " + hrisKey + "\r\n" + cl + "\r\n"
	}
	firstAnswer(t, st.addr, head("ua-ref", ""), "")
	ref := st.sink.withRequestID(t, "ua-ref")
	want := string(ref.UserAgent())
	r := firstAnswer(t, st.addr, head("ua-stalled", "Content-Length: 100\r\n")+"{", "")
	if r.status != 400 {
		t.Fatalf("answer %d %q, want 400", r.status, r.body)
	}
	rec := st.sink.withRequestID(t, "ua-stalled")
	if got := string(rec.UserAgent()); got != want {
		t.Errorf("audited user agent %q for the stalled body, the handler's record of the same head %q", got, want)
	}
}
