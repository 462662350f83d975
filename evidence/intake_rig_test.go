package evidence

import (
	"crypto/ed25519"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
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
