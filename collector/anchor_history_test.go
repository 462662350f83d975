package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestStartRefusesStoreRolledBackWithHeadPutBack: the collector published
// seq 4, then seq 8, to etcd and a file (anchorRig). The data directory
// is restored from the copy made at seq 4 and, with the operator's etcd
// role, the seq 4 head (which etcd's history keeps) is put back at
// <prefix>/audit/head, and in the file: store and anchors agree. The
// start check read only the heads there now and let the collector start
// and append, forking the chain; it reads etcd's history of the key now,
// as audit verify does, and refuses naming the seq 8 head and its
// revision. With acceptRollback the rollback is recorded as a break that
// names it, and a later start finds nothing to refuse.
func TestStartRefusesStoreRolledBackWithHeadPutBack(t *testing.T) {
	t.Parallel()
	r := newAnchorRig(t)
	puts, err := r.etcd.PublishedHeads(t.Context())
	if err != nil || len(puts) != 3 {
		t.Fatalf("etcd's history of the head: %d puts, %v; want 3 (seq 4 put twice, then seq 8)", len(puts), err)
	}
	newer, err := OpenHead(puts[2].Doc, r.pub)
	if err != nil || newer.Seq != 8 {
		t.Fatalf("second head put: %+v, %v; want seq 8", newer, err)
	}
	restore(t, r.backup, r.dir)
	older := puts[1].Doc // seq 4, put back by hand beside the store's copy
	if _, err := r.cli.Put(t.Context(), "/anchor-test/audit/head", string(older)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(string(r.file), older, 0o600); err != nil {
		t.Fatal(err)
	}

	st := r.open(t, 100, 0)
	_, err = st.CheckAnchors(t.Context(), r.pubs, 5*time.Second, false)
	var ae *AnchorError
	if !errors.Is(err, ErrAnchorNotHeld) || !errors.As(err, &ae) {
		st.Close()
		t.Fatalf("CheckAnchors on a store rolled back with its heads put back = %v, want ErrAnchorNotHeld naming seq 8", err)
	}
	for _, want := range []string{"names seq 8", newer.Hash[:16], fmt.Sprintf("at revision %d", puts[2].Revision), "chain ends at seq 4", "behind its anchor"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if ae.Published == nil || !sameSigned(ae.Published, newer) {
		t.Errorf("refusal names %+v, want the seq 8 head %+v", ae.Published, newer)
	}
	if s := st.Stats(); s.Breaks != 0 || s.AnchorsWithheld != 1 {
		t.Errorf("breaks %d, anchors withheld %d; want 0 and 1 (etcd)", s.Breaks, s.AnchorsWithheld)
	}
	st.Close()

	// The operator restored the copy on purpose: the break names seq 8.
	st = r.open(t, 100, 0)
	accepted, err := st.CheckAnchors(t.Context(), r.pubs, 5*time.Second, true)
	if err != nil || len(accepted) != 1 || accepted[0].Published == nil || accepted[0].Published.Seq != 8 {
		st.Close()
		t.Fatalf("CheckAnchors with acceptRollback = %v, %v; want the seq 8 head in etcd's history accepted", accepted, err)
	}
	r.publish(t, st) // seq 5, the break
	appendBatches(t, st, 100, 1)
	r.publish(t, st)
	st.Close()
	h := r.heads(t)
	if h[0].Seq != 6 || !sameSigned(h[0], h[1]) {
		t.Fatalf("anchors at %+v %+v, want the store's head, seq 6", h[0], h[1])
	}
	rep, _ := VerifyWith(r.dir, r.pub, VerifyOptions{Published: h[0]})
	wantProblems(t, rep, ProblemRecordedBreak)
	for _, want := range []string{"rollback accepted", "names seq 8", newer.Hash[:16]} {
		if !strings.Contains(rep.Problems[0].Detail, want) {
			t.Errorf("break %q does not say %q", rep.Problems[0].Detail, want)
		}
	}
	all, err := r.cli.Get(t.Context(), "/anchor-test/audit/head", clientv3.WithRev(puts[1].Revision))
	if err != nil || len(all.Kvs) != 1 {
		t.Fatalf("etcd history at revision %d: %v, %v", puts[1].Revision, all, err)
	}
	// Restarted once more: the seq 8 head is still in etcd's history, but
	// the head there now was signed after it (the break's), so nothing
	// is refused.
	st = r.open(t, 200, 0)
	defer st.Close()
	if _, err := st.CheckAnchors(t.Context(), r.pubs, 5*time.Second, false); err != nil {
		t.Errorf("CheckAnchors after the accepted rollback: %v", err)
	}
}

// historyUnreadable is etcd's anchor whose history read fails (a timeout
// on a long history, a permission the role lacks) while its current head
// reads.
type historyUnreadable struct{ *etcdadmin.Admin }

func (historyUnreadable) PublishedHeads(context.Context) ([]etcdadmin.HeadPut, error) {
	return nil, errors.New("etcdserver: request timed out")
}

// TestUnreadableHeadHistoryWithholdsTheHead: when etcd's history of
// audit/head cannot be read, the store cannot tell an older head put back
// from the newest, so the anchor stays unchecked and each publication
// there fails naming the history, as one to an anchor that cannot be read
// does: the check passed in silence, and the store rolled back beside a
// head put back published its fork over it.
func TestUnreadableHeadHistoryWithholdsTheHead(t *testing.T) {
	t.Parallel()
	r := newAnchorRig(t)
	puts, err := r.etcd.PublishedHeads(t.Context())
	if err != nil || len(puts) != 3 {
		t.Fatalf("etcd's history of the head: %d puts, %v; want 3", len(puts), err)
	}
	restore(t, r.backup, r.dir)
	older := puts[1].Doc
	if _, err := r.cli.Put(t.Context(), "/anchor-test/audit/head", string(older)); err != nil {
		t.Fatal(err)
	}
	pubs := []HeadPublisher{historyUnreadable{r.etcd}}
	st := r.open(t, 100, 0)
	defer st.Close()
	if _, err := st.CheckAnchors(t.Context(), pubs, 5*time.Second, false); err != nil {
		t.Fatalf("CheckAnchors with the history unreadable = %v; want the anchor left to check before publishing", err)
	}
	appendBatches(t, st, 100, 1)
	doc, err := st.SignHead(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	err = st.PublishChecked(t.Context(), doc, 5*time.Second, pubs)
	if err == nil || !strings.Contains(err.Error(), "history") {
		t.Errorf("publish with the history unreadable = %v; want it refused naming the history", err)
	}
	now, err := r.etcd.ReadHead(t.Context())
	if err != nil || string(now) != string(older) {
		t.Fatalf("the head in etcd after the publish was replaced (%v): the rolled-back store published over the head put back", err)
	}
}
