package dataplane

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// TestSizeRefusalDecidedOnHeadCheckPolicy: a body refused for its size
// by the limit of the policy its head was checked on (headerReceived) is
// answered on that policy, 413 body_too_large, whatever policy is in
// force by its answer. A policy raising max_body, swapped in between
// (here by a hook run right after headerReceived), had errorHandler
// decide the refused body on the new policy, under whose limit it fitted:
// its credential was checked and the request answered 429
// token_failures_limited, with a Retry-After, to a client whose budget
// was untouched; with "Expect: 100-continue" the expect hook checked it
// on the new policy too and sent 100 before that 429.
func TestSizeRefusalDecidedOnHeadCheckPolicy(t *testing.T) {
	t.Parallel()
	const post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n"
	body := strings.Repeat("a", 40<<10) // past the old 32 KiB, within the new 1 MiB
	cases := []struct{ name, head, body string }{
		{"declared", post + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n", body},
		{"expect", post + "Content-Length: " + strconv.Itoa(len(body)) + "\r\nExpect: 100-continue\r\n", ""},
		{"chunked", post + "Transfer-Encoding: chunked\r\n", strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := startUpstream(t)
			store, sink := &policy.Store{}, &memSink{}
			store.Swap(loadExample(t))
			swapDoc(t, store, func(d *policy.Document) {
				for i := range d.Classes {
					if d.Classes[i].Name == "standard" {
						d.Classes[i].MaxBody = "32KiB"
					}
				}
			})
			raised := loadExample(t) // standard: 1 MiB
			srv, err := New(Config{Store: store, Upstream: up.addr, Audit: sink})
			if err != nil {
				t.Fatal(err)
			}
			id := "headpolicy-" + tc.name
			resp := answerAfterSwap(t, srv, store, raised, tc.head+"X-Request-ID: "+id+"\r\n\r\n"+tc.body)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 413 || !strings.Contains(string(b), `"error":"body_too_large"`) {
				t.Errorf("first answer %d %s, want 413 body_too_large", resp.StatusCode, b)
			}
			var e errorBody
			json.Unmarshal(b, &e)
			if r := sink.withRequestID(t, e.RequestID); r.Decision != audit.BodyTooLarge {
				t.Errorf("audited %v, want body_too_large", r.Decision)
			}
			if n := len(up.received()); n > 0 {
				t.Errorf("the service got %d requests", n)
			}
		})
	}
}
