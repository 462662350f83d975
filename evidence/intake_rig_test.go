package evidence

import (
	"bytes"
	"crypto/ed25519"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// rigToken is sender sidecar-a's token at the intake of revokedIntake.
const rigToken = "sidecar-a-token-0123456789abcdef0123"

// rigRevokedAt is when revokedIntake's store records acmehris1 revoked.
var rigRevokedAt = time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)

// revokedIntake is the rig of the tests that send a sender's records
// through the collector's real intake: a store holding the revocation of
// acmehris1 at rigRevokedAt (revision 41, by alice), and its intake on
// loopback (url, its /v1/logs) taking sender sidecar-a's rigToken. The
// test closes srv and st when it is done sending.
type revokedIntake struct {
	data, out string
	key       ed25519.PrivateKey
	st        *collector.Store
	srv       *http.Server
	url       string
}

func newRevokedIntake(t *testing.T) *revokedIntake {
	t.Helper()
	r := &revokedIntake{data: t.TempDir(), out: t.TempDir(), key: newKey(t)}
	st, err := collector.OpenStore(r.data, collector.StoreConfig{SigningKey: r.key, Retention: 400 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents([]collector.Event{{Time: rigRevokedAt, Key: "/p/events/1", Revision: 41, Actor: "alice",
		Action: etcdadmin.ActionKeyRevoke, Target: "acmehris1", Reason: "leaked"}}); err != nil {
		t.Fatal(err)
	}
	col, err := collector.New(st, collector.Config{Tokens: []collector.SenderToken{{Name: "sidecar-a", Token: rigToken}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.st, r.srv, r.url = st, col.HTTPServer(), "http://"+ln.Addr().String()+"/v1/logs"
	go r.srv.Serve(ln)
	t.Cleanup(func() { r.srv.Close() })
	return r
}

// send posts one batch of recs from pod (its instance too) under batch id
// batch to the rig's intake with rigToken; anything but 200 fails t.
func (r *revokedIntake) send(t *testing.T, pod, batch string, recs ...audit.Record) {
	t.Helper()
	body := audit.EncodeBatch(nil, audit.Resource{Service: "svc", Host: "h", InstanceID: pod, Pod: pod}, batch, recs...)
	req, _ := http.NewRequest(http.MethodPost, r.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", collector.FormatProtobuf)
	req.Header.Set("Authorization", "Bearer "+rigToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("batch %s: %s", batch, resp.Status)
	}
}

// sendLimitedThenRevoked sends, from pod, the two records the pack's
// throttling sample and revocation rows are made of, naming what a
// sender writes as given: a 429 of the key limit an hour before the
// revocation, and acmehris1's 401 key_revoked 30 s after it.
func (r *revokedIntake) sendLimitedThenRevoked(t *testing.T, pod, tenant, client, route, reqID string) {
	t.Helper()
	var limited audit.Record
	limited.Time = rigRevokedAt.Add(-time.Hour).UnixNano()
	limited.Status, limited.Decision, limited.Limit = 429, audit.RateLimited, audit.LimitKey
	limited.Tenant, limited.Client, limited.Route = tenant, client, route
	limited.SetMethod([]byte("GET"))
	limited.SetRequestID([]byte(reqID))
	var revoked audit.Record
	revoked.Time = rigRevokedAt.Add(30 * time.Second).UnixNano()
	revoked.Status, revoked.Decision, revoked.Tenant = 401, audit.KeyRevoked, tenant
	revoked.SetMethod([]byte("GET"))
	revoked.SetKeyID([]byte("acmehris1"))
	revoked.SetRequestID([]byte(reqID))
	r.send(t, pod, "pod-a-1", limited, revoked)
}

// pack closes the intake and the store (its head signed) and builds the
// pack of 2026-Q2 from it, with the example policy's history and, when
// pod is not empty, pod as a live sidecar that applied revision 41 ten
// seconds after the revocation.
func (r *revokedIntake) pack(t *testing.T, pod string) (*Result, Period) {
	t.Helper()
	r.srv.Close()
	if _, err := r.st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := r.st.Close(); err != nil {
		t.Fatal(err)
	}
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Period: p, DataDir: r.data, History: hist, Out: r.out, SigningKey: r.key, Retention: "400d"}
	if pod != "" {
		cfg.Members = func(int64) ([]etcdadmin.MemberTrail, []string, error) {
			return []etcdadmin.MemberTrail{{Pod: pod, Versions: []etcdsync.Member{{Pod: pod, Revision: 41, Updated: rigRevokedAt.Add(10 * time.Second)}}}}, nil, nil
		}
	}
	res, err := Pack(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res, p
}
