package alert

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// slackAutolinks is what Slack makes a link of in a message's text by
// itself: a URL (any scheme://), a www. host and an e-mail address.
var slackAutolinks = regexp.MustCompile(`(?i)[a-z][a-z0-9+.-]*://|(?:^|[^a-z0-9-])www\.|[a-z0-9.+_-]+@[a-z0-9_-]+(?:\.[a-z0-9_-]+)+`)

// TestSlackShowsOutsideTextLiterally: an alert's name and key come from
// outside (an Alertmanager payload), and Slack got them as mrkdwn with
// only &, < and > escaped: *bold*, _italic_ and ~strike~ in them were
// formatting, and a URL, www. host or e-mail address a link Slack also
// unfurled (fetched a preview of). The server here stands for Slack's
// incoming webhook (a loopback HTTP server, not Slack) and checks the
// published wire format of the create, update and close messages: the
// top-level text with "mrkdwn": false, "unfurl_links" and
// "unfurl_media" false, every block's text a plain_text object, and no
// string holding a URL, www. host or e-mail address of the sender's, nor
// < or >; the text still reads (evil.example).
func TestSlackShowsOutsideTextLiterally(t *testing.T) {
	t.Parallel()
	const evil = "*bold* _it_ ~st~ https://evil.example/x www.evil.example mallory@evil.example <!channel> `code`"
	a := &Alert{ID: "alert-20261201T090000Z-0a1b2c3d", Rule: "alertmanager:" + evil, Kind: "alertmanager", Severity: "high",
		Group: "fingerprint", Key: evil, Count: 1, Note: evil, CorrectiveAction: evil, FoldedKeys: []string{evil}}
	var mu sync.Mutex
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("%s: body is not a JSON object: %v", r.URL.Path, err)
		}
		mu.Lock()
		got = append(got, body)
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	s := &Sink{Name: "secops", Kind: "slack", URL: srv.URL + "/services/T000/B000/XXXX"}
	key, err := s.deliver(srv.Client(), a, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, err := s.foldRequest(a, key, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := s.closeTicket(srv.Client(), a, key, time.Now()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("Slack got %d messages, want the create, the fold update and the close", len(got))
	}
	for i, body := range got {
		if body["mrkdwn"] != false || body["unfurl_links"] != false || body["unfurl_media"] != false {
			t.Errorf("message %d: mrkdwn %v, unfurl_links %v, unfurl_media %v; want false: %v", i, body["mrkdwn"], body["unfurl_links"], body["unfurl_media"], body)
		}
		blocks, _ := body["blocks"].([]any)
		for _, b := range blocks {
			text, _ := b.(map[string]any)["text"].(map[string]any)
			if text["type"] != "plain_text" {
				t.Errorf("message %d: block text %v is Slack's mrkdwn, which formats *_~ and links", i, text)
			}
		}
		var strs []string
		collectStrings(body, &strs)
		readable := false
		for _, s := range strs {
			if m := slackAutolinks.FindString(s); m != "" {
				t.Errorf("message %d: %q holds %q, a link Slack makes", i, s, m)
			}
			if strings.ContainsAny(s, "<>") {
				t.Errorf("message %d: %q holds < or >", i, s)
			}
			readable = readable || strings.Contains(s, "evil.example")
		}
		if !readable && i != 1 { // the fold update names no text of the alert's but its group
			t.Errorf("message %d does not show the alert's text: %v", i, body)
		}
	}
}
