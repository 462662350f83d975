package evidence

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// memberRig is a real etcd holding the sidecars' member records and a
// real collector writing real files, on a clock the test moves, with one
// bearer token a sidecar.
type memberRig struct {
	t     *testing.T
	ctx   context.Context
	cli   *clientv3.Client
	admin *etcdadmin.Admin
	lay   etcdsync.Layout
	data  string
	key   []byte
	st    *collector.Store
	url   string
	close func()
	mu    sync.Mutex
	clock time.Time
	// maxPerSender is the pack's Config.MaxPerSender: a flood of a few
	// dozen batches past a bound of a few dozen, not of 10,000 fsync'd.
	maxPerSender int
}

func newMemberRig(t *testing.T, start time.Time, tokens ...collector.SenderToken) *memberRig {
	t.Helper()
	e, err := devetcd.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	r := &memberRig{t: t, ctx: context.Background(), cli: etcdtest.Dial(t, e), data: t.TempDir(), clock: start}
	prefix := etcdtest.NewPrefix(t)
	r.admin, r.lay = etcdadmin.New(r.cli, prefix), etcdsync.NewLayout(prefix)
	key := newKey(t)
	r.key = key
	if r.st, err = collector.OpenStore(r.data, collector.StoreConfig{SigningKey: key, Now: r.now}); err != nil {
		t.Fatal(err)
	}
	col, err := collector.New(r.st, collector.Config{Tokens: tokens, MaxBodyBytes: 1 << 20, Now: r.now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	r.url, r.close = srv.URL, srv.Close
	return r
}

func (r *memberRig) now() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.clock }

func (r *memberRig) set(at time.Time) { r.mu.Lock(); r.clock = at; r.mu.Unlock() }

// member puts pod's leased member record, as its sidecar does, with the
// times its own clock gives; it returns the lease.
func (r *memberRig) member(pod string, started, updated time.Time) clientv3.LeaseID {
	r.t.Helper()
	l, err := r.cli.Grant(r.ctx, 3600)
	if err != nil {
		r.t.Fatal(err)
	}
	m, _ := json.Marshal(etcdsync.Member{Pod: pod, Revision: 1, Started: started, Updated: updated})
	if _, err := r.cli.Put(r.ctx, r.lay.Member(pod), string(m), clientv3.WithLease(l.ID)); err != nil {
		r.t.Fatal(err)
	}
	return l.ID
}

// publishHead signs the store's head at the rig's clock and publishes it
// under the prefix, as a collector with --etcd does every --sign-every.
func (r *memberRig) publishHead() {
	r.t.Helper()
	doc, err := r.st.SignHead(r.now())
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.admin.PublishHead(r.ctx, doc); err != nil {
		r.t.Fatal(err)
	}
}

// emitter is a real sidecar emitter naming pod, sending with token.
func (r *memberRig) emitter(pod, token string) *audit.Emitter {
	r.t.Helper()
	e, err := audit.NewEmitter(audit.EmitterConfig{URL: r.url, Token: token, SpoolDir: r.t.TempDir(),
		BatchSize: 1, FlushInterval: time.Hour, InstanceID: "sidecar-" + pod + "-" + token[:8], Pod: pod})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { e.Close() })
	return e
}

// send has e deliver one record at the rig's clock.
func (r *memberRig) send(e *audit.Emitter) {
	r.t.Helper()
	want := e.Stats().Delivered + 1
	rec := &audit.Record{Time: r.now().UnixNano(), Status: 200, Decision: audit.Allowed, Tenant: "acme", Client: "acme-hris", Route: "/v1/users"}
	if !e.Emit(rec) {
		r.t.Fatal("the emitter refused a record")
	}
	waitUntil(r.t, "the batch delivered", func() bool { return e.Stats().Delivered == want })
}

// pack closes the collector and packs day with the member records and
// their history read from the real etcd.
func (r *memberRig) pack(day string) *Result {
	r.t.Helper()
	r.close()
	if err := r.st.Close(); err != nil {
		r.t.Fatal(err)
	}
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		r.t.Fatal(err)
	}
	p, err := ParseRange(day, day)
	if err != nil {
		r.t.Fatal(err)
	}
	members := func(since int64) ([]etcdadmin.MemberTrail, []string, error) {
		return r.admin.MemberTrails(r.ctx, since)
	}
	history := func() (etcdadmin.MemberHistory, []string, error) { return r.admin.MemberHistory(r.ctx) }
	res, err := Pack(Config{Period: p, DataDir: r.data, History: hist, Out: r.t.TempDir(), SigningKey: r.key,
		Members: members, MemberHistory: history, Silence: time.Hour, MaxPerSender: r.maxPerSender})
	if err != nil {
		r.t.Fatal(err)
	}
	return res
}

func warned(res *Result, want string) bool {
	return slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, want) })
}

const (
	tokenA = "sidecar-a-token-0123456789abcdef0123"
	tokenB = "sidecar-b-token-0123456789abcdef0123"
	tokenC = "sidecar-c-token-0123456789abcdef0123"
)

// TestAnotherSendersBatchesDoNotCoverAPodsSilence: the batches were
// matched to a member record by the pod they name, whatever their
// sender, and that name is the sender's to write. pod-a's sidecar
// (token sidecar-a) sent at 01:00 and then stopped; sidecar-b's token
// then sent a batch every hour naming pod-a: pod-a's silence from 01:00
// was covered by another sender's batches and the pack said nothing.
// Each sender's batches naming a pod are now followed apart, and a pod
// named by more than one sender is named.
func TestAnotherSendersBatchesDoNotCoverAPodsSilence(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	r := newMemberRig(t, day.Add(time.Hour), collector.SenderToken{Name: "sidecar-a", Token: tokenA}, collector.SenderToken{Name: "sidecar-b", Token: tokenB})
	r.member("pod-a", day.Add(30*time.Minute), day.Add(30*time.Minute))
	r.member("pod-b", day.Add(30*time.Minute), day.Add(30*time.Minute))
	own, b, forged := r.emitter("pod-a", tokenA), r.emitter("pod-b", tokenB), r.emitter("pod-a", tokenB)
	r.send(own)
	for h := 1; h < 24; h++ {
		r.set(day.Add(time.Duration(h)*time.Hour + 30*time.Minute))
		r.send(b)
		r.send(forged)
	}
	res := r.pack("2026-05-12")
	want := `"pod-a" (token:sidecar-a): no batch stored 2026-05-12T01:00:00Z to 2026-05-13T00:00:00Z`
	if !warned(res, want) {
		t.Errorf("warnings %q: none says %q (pod-a's own sender silent from 01:00, covered by sidecar-b's batches naming pod-a)", res.Warnings, want)
	}
	if want := "the batches naming \"pod-a\" came from 2 senders"; !warned(res, want) {
		t.Errorf("warnings %q: none says %q", res.Warnings, want)
	}
	if warned(res, `"pod-b" (`) {
		t.Errorf("warnings %q name pod-b, which its own sender covered every hour", res.Warnings)
	}
	// Whether or not a silence shows, a pod named by two senders is named.
	// One sender after the other, but pod-a's sidecar never restarted
	// between them: not a rotation (TestRotatedCredentialIsOneSidecar).
	if want := `SENDERS DIFFER: the batches naming 1 pod(s) came from more than one sender, not one sidecar's credential rotated`; !warned(res, want) || !warned(res, `: "pod-a" ("token:sidecar-a", "token:sidecar-b").`) {
		t.Errorf("warnings %q: none says %q", res.Warnings, want)
	}
}

// TestGoneSidecarSpanIsTheCollectorsClock: a sidecar gone before the pack
// counted as up from its record's Started to the latest Updated written
// before its delete: its own clock's times, and the other sidecars'.
// pod-x's clock is a year ahead: it sent at 01:00 (the collector dates a
// batch by its own clock) and went silent; its record was deleted (its
// lease revoked) at 12:30 by the collector's clock, between the heads the
// collector published at 12:00 and 13:00. Its record said it started in
// 2027, so the pack counted it live after the period and said nothing of
// its silence from 01:00. The span now comes from the collector's
// readings of etcd's revisions: from no later than its first reading
// after the record's creation, to the first after its delete.
func TestGoneSidecarSpanIsTheCollectorsClock(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	r := newMemberRig(t, day.Add(30*time.Minute), collector.SenderToken{Name: "sidecar-x", Token: tokenA})
	r.publishHead()
	ahead := day.AddDate(1, 0, 0)
	lease := r.member("pod-x", ahead.Add(30*time.Minute), ahead.Add(30*time.Minute))
	r.set(day.Add(time.Hour))
	r.publishHead()
	r.send(r.emitter("pod-x", tokenA))
	r.set(day.Add(12 * time.Hour))
	r.publishHead()
	r.set(day.Add(12*time.Hour + 30*time.Minute))
	if _, err := r.cli.Revoke(r.ctx, lease); err != nil {
		t.Fatal(err)
	}
	r.set(day.Add(13 * time.Hour))
	r.publishHead()
	res := r.pack("2026-05-12")
	want := `"pod-x" (token:sidecar-x): no batch stored 2026-05-12T01:00:00Z to 2026-05-12T13:00:00Z (gone before the pack: its member record deleted at etcd revision `
	if !warned(res, want) {
		t.Errorf("warnings %q: none says %q", res.Warnings, want)
	}
	if want := "after 2026-05-12T12:00:00Z and by 2026-05-12T13:00:00Z (the collector's clock)"; !warned(res, want) {
		t.Errorf("warnings %q: none says %q", res.Warnings, want)
	}
}

// TestPackNamesSendersWhoseBatchesNameNoPod: a sidecar run without a pod
// name kept no member record its batches named, so its silence was never
// checked, and the pack, its member records read from etcd, said the
// silence of every sidecar was. The pack now names the senders of
// batches naming no pod, whose silence it does not check, with a warning.
func TestPackNamesSendersWhoseBatchesNameNoPod(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	r := newMemberRig(t, day.Add(30*time.Minute), collector.SenderToken{Name: "sidecar-a", Token: tokenA}, collector.SenderToken{Name: "unnamed", Token: tokenB})
	r.member("pod-a", day, day)
	a, unnamed := r.emitter("pod-a", tokenA), r.emitter("", tokenB)
	for h := range 24 {
		r.set(day.Add(time.Duration(h)*time.Hour + 30*time.Minute))
		r.send(a)
	}
	r.send(unnamed)
	res := r.pack("2026-05-12")
	want := `SILENCE NOT CHECKED: batches of period 2026-05-12_2026-05-12 from 1 sender(s) name no pod: "token:unnamed".`
	if !warned(res, want) {
		t.Errorf("warnings %q: none says %q", res.Warnings, want)
	}
	if warned(res, `"pod-a"`) {
		t.Errorf("warnings %q name pod-a, which sent every hour", res.Warnings)
	}
}

// TestLiveSidecarStartIsTheCollectorsClock: a live sidecar counted as up
// from its record's Started, its own clock's. pod-z's clock is a year
// ahead: its record was created between the collector's heads of 00:30
// and 01:00, it sent at 01:00 and went silent, and the pack counted it
// live from next year, naming nothing. pod-y's clock is a year behind:
// its record was created after the head of 06:00 and it sent every hour
// from 06:30, and the pack counted it live, and silent, from the day's
// start. Its start is now held between the collector's readings around
// its record's creation.
func TestLiveSidecarStartIsTheCollectorsClock(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	r := newMemberRig(t, day.Add(30*time.Minute), collector.SenderToken{Name: "sidecar-y", Token: tokenA}, collector.SenderToken{Name: "sidecar-z", Token: tokenB})
	r.publishHead()
	r.member("pod-z", day.AddDate(1, 0, 0), day.AddDate(1, 0, 0))
	r.set(day.Add(time.Hour))
	r.publishHead()
	r.send(r.emitter("pod-z", tokenB))
	r.set(day.Add(6 * time.Hour))
	r.publishHead()
	r.member("pod-y", day.AddDate(-1, 0, 0), day.AddDate(-1, 0, 0))
	y := r.emitter("pod-y", tokenA)
	for h := 6; h < 24; h++ {
		r.set(day.Add(time.Duration(h)*time.Hour + 30*time.Minute))
		r.send(y)
	}
	res := r.pack("2026-05-12")
	if want := `"pod-z" (token:sidecar-z): no batch stored 2026-05-12T01:00:00Z to 2026-05-13T00:00:00Z`; !warned(res, want) {
		t.Errorf("warnings %q: none says %q", res.Warnings, want)
	}
	if warned(res, `"pod-y"`) {
		t.Errorf("warnings %q name pod-y, up from 06:00 by the collector's clock and sending every hour from 06:30", res.Warnings)
	}
}

// TestForgedHeadInEtcdDatesNothing: the heads put under audit/head in
// etcd dated the member records by their time, unopened. pod-x sent at
// 01:00 and went silent; its record was deleted at 12:30, and the
// collector's next head was at 13:00. A head written by hand after the
// delete, naming 01:30 and signed with another key, cut pod-x's span to
// 01:30: its silence was half an hour, under --silence, and the pack
// named nothing. A head that does not verify with the collector's key
// now dates nothing and is named. Nor does the collector's own head of
// 01:00 put again after the delete: its time was read before its first
// put, not before the later one.
func TestForgedHeadInEtcdDatesNothing(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"forged", "replayed", "replayed re-encoded"} {
		replay := how != "forged"
		day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
		r := newMemberRig(t, day.Add(30*time.Minute), collector.SenderToken{Name: "sidecar-x", Token: tokenA})
		r.publishHead()
		lease := r.member("pod-x", day.Add(30*time.Minute), day.Add(30*time.Minute))
		r.set(day.Add(time.Hour))
		r.publishHead()
		early, err := r.admin.AuditHead(r.ctx)
		if err != nil {
			t.Fatal(err)
		}
		r.send(r.emitter("pod-x", tokenA))
		r.set(day.Add(12*time.Hour + 30*time.Minute))
		if _, err := r.cli.Revoke(r.ctx, lease); err != nil {
			t.Fatal(err)
		}
		other, err := collector.OpenStore(t.TempDir(), collector.StoreConfig{SigningKey: newKey(t)})
		if err != nil {
			t.Fatal(err)
		}
		forged, err := other.SignHead(day.Add(90 * time.Minute))
		other.Close()
		if err != nil {
			t.Fatal(err)
		}
		if replay {
			forged = early
		}
		if how == "replayed re-encoded" {
			// The signature covers the payload's bytes, not the
			// document's: the same head, spaced otherwise, verifies.
			forged = append([]byte(" "), early...)
		}
		if _, err := r.cli.Put(r.ctx, r.lay.AuditHead(), string(forged)); err != nil {
			t.Fatal(err)
		}
		r.set(day.Add(13 * time.Hour))
		r.publishHead()
		res := r.pack("2026-05-12")
		if want := `"pod-x" (token:sidecar-x): no batch stored 2026-05-12T01:00:00Z to 2026-05-12T13:00:00Z`; !warned(res, want) {
			t.Errorf("%s: warnings %q: none says %q (the head put after the delete cut pod-x's span)", how, res.Warnings, want)
		}
		if want := "INCOMPLETE: 1 audit head(s) put in etcd under audit/head are not the collector's heads in order: revision "; warned(res, want) == replay {
			t.Errorf("%s: warnings %q: want %q only for the forged head", how, res.Warnings, want)
		}
	}
}

// TestRotatedCredentialIsOneSidecar: pod-a's sidecar sent every hour with
// token sidecar-a until 11:30, and was restarted at 11:50 with the token
// renamed sidecar-b (its lease revoked, a new member record), sending
// every hour from 12:00. Its batches were followed per sender, so the
// pack said SENDERS DIFFER and named sidecar-a silent from 11:30,
// INCOMPLETE, for a rotation. Senders one
// after the other with the pod's sidecar restarting between them (its
// member records) are now named SENDER ROTATED and checked as one line.
func TestRotatedCredentialIsOneSidecar(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	r := newMemberRig(t, day.Add(30*time.Minute), collector.SenderToken{Name: "sidecar-a", Token: tokenA}, collector.SenderToken{Name: "sidecar-b", Token: tokenB})
	lease := r.member("pod-a", day.Add(30*time.Minute), day.Add(30*time.Minute))
	old := r.emitter("pod-a", tokenA)
	for h := 1; h <= 11; h++ {
		r.set(day.Add(time.Duration(h)*time.Hour + 30*time.Minute))
		r.send(old)
	}
	r.set(day.Add(11*time.Hour + 40*time.Minute))
	if _, err := r.cli.Revoke(r.ctx, lease); err != nil {
		t.Fatal(err)
	}
	r.set(day.Add(11*time.Hour + 50*time.Minute))
	r.member("pod-a", day.Add(11*time.Hour+50*time.Minute), day.Add(11*time.Hour+50*time.Minute))
	renamed := r.emitter("pod-a", tokenB)
	for h := 12; h < 24; h++ {
		r.set(day.Add(time.Duration(h) * time.Hour))
		r.send(renamed)
	}
	res := r.pack("2026-05-12")
	if warned(res, "SENDERS DIFFER") || warned(res, `"pod-a" (token:`) {
		t.Errorf("warnings %q: a rotation read as two senders, or pod-a named silent", res.Warnings)
	}
	if want := `SENDER ROTATED: the batches naming 1 pod(s) came from one sender after another`; !warned(res, want) || !warned(res, `"pod-a" ("token:sidecar-a" 2026-05-12T01:30:00Z to 2026-05-12T11:30:00Z, then "token:sidecar-b" 2026-05-12T12:00:00Z to 2026-05-12T23:00:00Z)`) {
		t.Errorf("warnings %q: none names pod-a's rotation", res.Warnings)
	}
}

// TestSenderOfAnotherPodIsNoRotation: pod-a's sidecar sent until 11:30
// and pod-a restarted at 11:50, its new sidecar sending nothing after.
// sidecar-q's token, pod-q's sidecar's, sent pod-q's batches all day and,
// from 12:00, batches naming pod-a too. The pack read pod-a's senders as
// its credential rotated on the restart, checked their batches as one
// line, and named no silence of pod-a: another sidecar's credential
// covered it, under a label that tells the auditor it is benign. A
// credential whose batches name another pod is no one pod's own: SENDERS
// DIFFER, each sender checked apart.
func TestSenderOfAnotherPodIsNoRotation(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	r := newMemberRig(t, day.Add(30*time.Minute), collector.SenderToken{Name: "sidecar-a", Token: tokenA}, collector.SenderToken{Name: "sidecar-q", Token: tokenB})
	lease := r.member("pod-a", day.Add(30*time.Minute), day.Add(30*time.Minute))
	r.member("pod-q", day.Add(30*time.Minute), day.Add(30*time.Minute))
	a, q, qa := r.emitter("pod-a", tokenA), r.emitter("pod-q", tokenB), r.emitter("pod-a", tokenB)
	for h := 1; h <= 11; h++ {
		r.set(day.Add(time.Duration(h)*time.Hour + 30*time.Minute))
		r.send(a)
		r.send(q)
	}
	r.set(day.Add(11*time.Hour + 40*time.Minute))
	if _, err := r.cli.Revoke(r.ctx, lease); err != nil {
		t.Fatal(err)
	}
	r.set(day.Add(11*time.Hour + 50*time.Minute))
	r.member("pod-a", day.Add(11*time.Hour+50*time.Minute), day.Add(11*time.Hour+50*time.Minute))
	for h := 12; h < 24; h++ {
		r.set(day.Add(time.Duration(h) * time.Hour))
		r.send(q)
		r.send(qa)
	}
	res := r.pack("2026-05-12")
	if warned(res, "SENDER ROTATED") || !warned(res, `SENDERS DIFFER: the batches naming 1 pod(s)`) || !warned(res, `"pod-a" (token:sidecar-a): no batch stored`) {
		t.Errorf("warnings %q: want pod-a's senders to differ and sidecar-a's silence named, not a rotation", res.Warnings)
	}
}

// TestRecordsDateASidecarsDelete: with no head published in etcd and no
// lifecycle event after it, nothing dated the delete of a gone sidecar's
// member record, and it counted live to the period's end. pod-x sent at
// 01:00 and 01:50 and was removed at 02:00; pod-y and pod-z, started at
// 02:10, sent every hour from 02:30, their records naming the etcd
// revision they had applied, pod-z's member record's put, which came
// after pod-x's delete. The pack named pod-x silent from 01:50 to the
// day's end, INCOMPLETE for a sidecar gone. The first batch the
// collector stored naming a revision written after the delete, from the
// second sender to name it, now dates it.
func TestRecordsDateASidecarsDelete(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	r := newMemberRig(t, day.Add(30*time.Minute), collector.SenderToken{Name: "sidecar-x", Token: tokenA}, collector.SenderToken{Name: "sidecar-y", Token: tokenB},
		collector.SenderToken{Name: "sidecar-z", Token: tokenC})
	lease := r.member("pod-x", day.Add(30*time.Minute), day.Add(30*time.Minute))
	x := r.emitter("pod-x", tokenA)
	for _, at := range []time.Duration{time.Hour, time.Hour + 50*time.Minute} {
		r.set(day.Add(at))
		r.send(x)
	}
	r.set(day.Add(2 * time.Hour))
	if _, err := r.cli.Revoke(r.ctx, lease); err != nil {
		t.Fatal(err)
	}
	r.set(day.Add(2*time.Hour + 10*time.Minute))
	r.member("pod-y", day.Add(2*time.Hour+10*time.Minute), day.Add(2*time.Hour+10*time.Minute))
	r.member("pod-z", day.Add(2*time.Hour+10*time.Minute), day.Add(2*time.Hour+10*time.Minute))
	got, err := r.cli.Get(r.ctx, r.lay.Member("pod-z"))
	if err != nil || len(got.Kvs) != 1 {
		t.Fatal(err, got)
	}
	rev := got.Kvs[0].ModRevision
	y, z := r.emitter("pod-y", tokenB), r.emitter("pod-z", tokenC)
	for h := 2; h < 24; h++ {
		r.set(day.Add(time.Duration(h)*time.Hour + 30*time.Minute))
		r.sendAt(y, rev)
		r.sendAt(z, rev)
	}
	res := r.pack("2026-05-12")
	if warned(res, `"pod-x"`) || warned(res, `"pod-y"`) || warned(res, `"pod-z"`) {
		t.Errorf("warnings %q name pod-x, gone by 02:30 by the first batches naming a revision after its delete, or pod-y or pod-z", res.Warnings)
	}
}

// TestOneSenderNamingRevisionsAheadDatesNothing: a record's
// policy_revision is its sender's to write, and etcd's revisions come
// one after another. pod-x, reading the revision etcd is at, sent at
// 01:00 records naming the next twenty, then served on without sending
// until its record was deleted at 05:00, one of those revisions. Its
// batch dated the delete at 01:00, and the pack named no silence of
// pod-x. One sender's word now dates nothing: pod-x counts live until a
// second sender names a revision after its delete (here none does).
func TestOneSenderNamingRevisionsAheadDatesNothing(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	r := newMemberRig(t, day.Add(30*time.Minute), collector.SenderToken{Name: "sidecar-x", Token: tokenA}, collector.SenderToken{Name: "sidecar-y", Token: tokenB})
	lease := r.member("pod-x", day.Add(30*time.Minute), day.Add(30*time.Minute))
	at, err := r.cli.Get(r.ctx, r.lay.Member("pod-x"))
	if err != nil {
		t.Fatal(err)
	}
	x := r.emitter("pod-x", tokenA)
	r.set(day.Add(time.Hour))
	for ahead := int64(1); ahead <= 20; ahead++ {
		r.sendAt(x, at.Header.Revision+ahead)
	}
	r.set(day.Add(5 * time.Hour))
	if _, err := r.cli.Revoke(r.ctx, lease); err != nil {
		t.Fatal(err)
	}
	r.set(day.Add(5*time.Hour + 10*time.Minute))
	r.member("pod-y", day.Add(5*time.Hour+10*time.Minute), day.Add(5*time.Hour+10*time.Minute))
	got, err := r.cli.Get(r.ctx, r.lay.Member("pod-y"))
	if err != nil || len(got.Kvs) != 1 {
		t.Fatal(err, got)
	}
	y := r.emitter("pod-y", tokenB)
	for h := 5; h < 24; h++ {
		r.set(day.Add(time.Duration(h)*time.Hour + 30*time.Minute))
		r.sendAt(y, got.Kvs[0].ModRevision)
	}
	res := r.pack("2026-05-12")
	if !warned(res, `"pod-x" (token:sidecar-x): no batch stored`) {
		t.Errorf("warnings %q: none names pod-x silent after 01:00, its delete dated by its own records naming revisions ahead", res.Warnings)
	}
}

// TestRecordsOfPodsOfAnotherEtcdDateNothing: sidecars of another etcd
// (or in file mode) send to the same collector, and their records name
// revisions of their own: numbers this etcd writes later, or never. Two
// such senders named, at 01:00, revisions this etcd reached only at
// 05:00, when pod-x, silent since 01:00, was deleted: the pack dated the
// delete at 01:00 and named no silence of pod-x. Only the records of
// pods with a member record in this etcd date its revisions.
func TestRecordsOfPodsOfAnotherEtcdDateNothing(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	r := newMemberRig(t, day.Add(30*time.Minute), collector.SenderToken{Name: "sidecar-x", Token: tokenA}, collector.SenderToken{Name: "other-1", Token: tokenB},
		collector.SenderToken{Name: "other-2", Token: tokenC})
	lease := r.member("pod-x", day.Add(30*time.Minute), day.Add(30*time.Minute))
	at, err := r.cli.Get(r.ctx, r.lay.Member("pod-x"))
	if err != nil {
		t.Fatal(err)
	}
	x, o1, o2 := r.emitter("pod-x", tokenA), r.emitter("pod-o1", tokenB), r.emitter("pod-o2", tokenC)
	r.set(day.Add(time.Hour))
	r.send(x)
	for ahead := int64(1); ahead <= 5; ahead++ {
		r.sendAt(o1, at.Header.Revision+ahead)
		r.sendAt(o2, at.Header.Revision+ahead)
	}
	r.set(day.Add(5 * time.Hour))
	if _, err := r.cli.Revoke(r.ctx, lease); err != nil {
		t.Fatal(err)
	}
	res := r.pack("2026-05-12")
	if !warned(res, `"pod-x" (token:sidecar-x): no batch stored`) {
		t.Errorf("warnings %q: none names pod-x silent after 01:00, its delete dated by records of pods of another etcd", res.Warnings)
	}
}

// sendAt has e deliver one record at the rig's clock naming revision rev.
func (r *memberRig) sendAt(e *audit.Emitter, rev int64) {
	r.t.Helper()
	want := e.Stats().Delivered + 1
	if !e.Emit(&audit.Record{Time: r.now().UnixNano(), Status: 200, Decision: audit.Allowed, Tenant: "acme", Client: "acme-hris", Route: "/v1/users", PolicyRevision: rev}) {
		r.t.Fatal("the emitter refused a record")
	}
	waitUntil(r.t, "the batch delivered", func() bool { return e.Stats().Delivered == want })
}

// TestFileModeSidecarSilenceNotChecked: a sidecar run in file mode keeps
// no member record in etcd, so the silence check, which starts from the
// member records, never looked at pod-f's batches: pod-f sent once at
// 01:00 and stopped, and the pack said the silence of the sidecars was
// checked and named nothing. A pod whose batches no member record
// matches is now named SILENCE NOT CHECKED, with a warning.
func TestFileModeSidecarSilenceNotChecked(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	r := newMemberRig(t, day.Add(30*time.Minute), collector.SenderToken{Name: "sidecar-a", Token: tokenA}, collector.SenderToken{Name: "sidecar-f", Token: tokenB})
	r.member("pod-a", day, day)
	a, f := r.emitter("pod-a", tokenA), r.emitter("pod-f", tokenB)
	r.set(day.Add(time.Hour))
	r.send(f)
	for h := range 24 {
		r.set(day.Add(time.Duration(h)*time.Hour + 30*time.Minute))
		r.send(a)
	}
	res := r.pack("2026-05-12")
	if want := `SILENCE NOT CHECKED: batches of period 2026-05-12_2026-05-12 from 1 sidecar(s) name a pod no member record in etcd names, live or in the history read: "pod-f" (token:sidecar-f).`; !warned(res, want) {
		t.Errorf("warnings %q: none says %q", res.Warnings, want)
	}
	if warned(res, `"pod-a"`) {
		t.Errorf("warnings %q name pod-a, which sent every hour", res.Warnings)
	}
}
