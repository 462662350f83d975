package alert

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestSinkRedirectNotFollowed: a ticket sink answers a delivery with a
// redirect (307 keeps the method and body) to a host of someone else's
// choosing: here a second server standing for an internal address the
// collector can reach. The collector's HTTP client followed it, POSTing
// the alert, with its signature and delivery id, there (and a GitHub,
// Jira or ServiceNow credential along to the same host on plain http).
// A redirect is now an answer like any other that is not 2xx: the
// delivery stays queued, and nothing is sent to the other host.
func TestSinkRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		elsewhere.Add(1)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"ticket":"PWNED-1"}`)
	}))
	defer other.Close()
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		http.Redirect(w, r, other.URL+"/internal", http.StatusTemporaryRedirect)
	}))
	defer sink.Close()
	r := newRig(t, examplePolicy(t))
	sinks := []*Sink{{Name: "secops", Kind: "webhook", URL: sink.URL + "/alerts", secret: []byte("s3cret-for-the-test")}}
	o, err := NewOutbox(OutboxConfig{Dir: t.TempDir(), Sinks: sinks, Engine: r.eng}) // the collector's client
	if err != nil {
		t.Fatal(err)
	}
	a := Alert{ID: "alert-20261201T090000Z-0000000000000002", Rule: "token-guessing-source", Group: "source", Key: "203.0.113.1"}
	if err := o.Enqueue(hold(r.eng, a)); err != nil {
		t.Fatal(err)
	}
	o.deliverDue(context.Background())
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d deliveries, want none", n)
	}
	if o.Pending() != 1 {
		t.Errorf("%d deliveries queued, want the redirected one still queued", o.Pending())
	}
}
