package evidence

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestForgedPodNamesItsSender: a batch's pod name (k8s.pod.name) is its
// sender's to write. A token stolen from one tenant's sidecar
// (sidecar-a) sent, over the collector's real listener, a key_revoked
// record under pod-b's name: the revocation file showed it as pod-b's
// own first denial, the propagation proof of a sidecar that never
// denied anything, and nothing in the pack told it from pod-b's. Every
// place the pack names a sidecar's denial now names the sender that
// sent it too.
func TestForgedPodNamesItsSender(t *testing.T) {
	t.Parallel()
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Retention: 400 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	revokedAt := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	if err := st.AppendEvents([]collector.Event{{Time: revokedAt, Key: "/p/events/1", Revision: 41, Actor: "alice",
		Action: etcdadmin.ActionKeyRevoke, Target: "acmehris1", Reason: "leaked"}}); err != nil {
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
	defer srv.Close()

	var r audit.Record
	r.Time = revokedAt.Add(30 * time.Second).UnixNano()
	r.Status, r.Decision, r.Tenant = 401, audit.KeyRevoked, "acme"
	r.SetMethod([]byte("GET"))
	r.SetKeyID([]byte("acmehris1"))
	r.SetRequestID([]byte("forged-1"))
	body := audit.EncodeBatch(nil, audit.Resource{Service: "svc", Host: "h", InstanceID: "pod-b", Pod: "pod-b"}, "pod-b-1", r)
	req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/v1/logs", bytes.NewReader(body))
	req.Header.Set("Content-Type", collector.FormatProtobuf)
	req.Header.Set("Authorization", "Bearer "+tokA) // sidecar-a's token, claiming pod-b
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("batch: %s", resp.Status)
	}
	srv.Close()
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
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
	members := func(int64) ([]etcdadmin.MemberTrail, []string, error) {
		return []etcdadmin.MemberTrail{{Pod: "pod-b", Versions: []etcdsync.Member{{Pod: "pod-b", Revision: 41, Updated: revokedAt.Add(10 * time.Second)}}}}, nil, nil
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: out, SigningKey: key, Retention: "400d", Members: members})
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(res.Dir, "APIAuth-RevocationRecords-2026-Q2.csv"))
	col8, col12 := indexOf(rows[0], "first_denial_by_sidecar"), indexOf(rows[0], "sidecar_first_denial")
	if len(rows) != 3 || col8 < 0 || col12 < 0 {
		t.Fatalf("revocations = %q; want the header, the change's row and pod-b's", rows)
	}
	if got := rows[1][col8]; got != "pod-b (token:sidecar-a)=2026-05-10T12:00:30Z" {
		t.Errorf("first denial by sidecar = %q; want pod-b's named with the token that sent it, sidecar-a's", got)
	}
	if got := rows[2][col12]; !strings.Contains(got, "token:sidecar-a") {
		t.Errorf("pod-b's own first denial = %q; want it to name the sender, sidecar-a, that claimed it", got)
	}
}

func indexOf(row []string, name string) int {
	for i, c := range row {
		if c == name {
			return i
		}
	}
	return -1
}
