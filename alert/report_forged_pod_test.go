package alert

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// TestReportKeepsEachSendersDenialOfAPod: incident report gives, per pod,
// the first request it denied under the containment. The pod is the
// batch's instance id, the sender's to write: a token stolen from
// another tenant's sidecar (sidecar-a) sent, over the collector's real
// listener, a suspended record under pod-b's instance id a second
// before pod-b's own, and the report kept only the earlier: pod-b's own
// denial was gone from it. Each sender's first denial for a pod is kept.
func TestReportKeepsEachSendersDenialOfAPod(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	opened := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	a := &Alert{ID: "alert-forged-pod", Rule: "guessing", Kind: "token_guessing", Severity: "high", Group: "client", Key: "globex-bi",
		Client: "globex-bi", Status: StatusOpen, Opened: opened, LastSeen: opened, Count: 1, Window: "1m0s", RuleAction: "suspend"}
	evs := []collector.Event{
		{Time: opened, Actor: "collector", Action: ActionOpen, Target: a.ID, Details: encodeDetails(a.openDetails())},
		{Time: opened.Add(time.Second), Key: "/p/events/1", Revision: 7, Actor: "collector", Action: "client.suspend", Target: "globex-bi", Reason: "alert " + a.ID},
	}
	if err := st.AppendEvents(evs); err != nil {
		t.Fatal(err)
	}
	const tokA, tokB = "sidecar-a-token-0123456789abcdef0123", "sidecar-b-token-0123456789abcdef0123"
	col, err := collector.New(st, collector.Config{Tokens: []collector.SenderToken{{Name: "sidecar-a", Token: tokA}, {Name: "sidecar-b", Token: tokB}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := col.HTTPServer()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	send := func(token, id string, at time.Time) {
		t.Helper()
		var r audit.Record
		r.Time = at.UnixNano()
		r.Status, r.Decision, r.Client = 403, audit.Suspended, "globex-bi"
		r.SetMethod([]byte("GET"))
		r.SetRequestID([]byte(id))
		if code := postBatch(t, "http://"+ln.Addr().String(), token, "pod-b", id, r); code != http.StatusOK {
			t.Fatalf("batch %s: status %d", id, code)
		}
	}
	send(tokB, "own-1", opened.Add(3*time.Second))
	send(tokA, "forged-1", opened.Add(2*time.Second)) // sidecar-a's token, claiming pod-b
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	r, err := BuildReport(dir, a.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range r.Enforcement {
		got[e.Pod+" "+e.Sender] = e.RequestID
	}
	if got["pod-b token:sidecar-b"] != "own-1" || got["pod-b token:sidecar-a"] != "forged-1" || len(got) != 2 {
		t.Errorf("enforcement = %v; want pod-b's own first denial (sidecar-b's) and the one sidecar-a's token claimed for it, each with its sender", got)
	}
}
