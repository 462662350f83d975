package main

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/evidence"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// putBackStore is a store whose collector published head A, then head B,
// to a real etcd through the store (numbered for the key), rolled back to
// A with head A put back at <prefix>/audit/head by hand.
type putBackStore struct {
	endpoints, prefix, keyPath, data string
	now                              time.Time
	cli                              *clientv3.Client
}

// newPutBackStore builds it; with compact, etcd is compacted past B
// (its history keeps only A put back); with aheadA, A was signed an hour
// after B (the collector's clock set back between them).
func newPutBackStore(t *testing.T, compact, aheadA bool) *putBackStore {
	t.Helper()
	const prefix = "/counted"
	endpoints, cli, ctx := etcdWithPolicy(t, prefix)
	admin := etcdadmin.New(cli, prefix)
	tmp := t.TempDir()
	s := &putBackStore{endpoints: endpoints, prefix: prefix, keyPath: filepath.Join(tmp, "collector.key"), data: filepath.Join(tmp, "data"), now: time.Now().UTC(), cli: cli}
	backup := filepath.Join(tmp, "backup")
	if err := collector.GenerateKey(s.keyPath); err != nil {
		t.Fatal(err)
	}
	evidenceStore(t, s.data, s.keyPath, s.now)
	key, err := collector.LoadPrivateKey(s.keyPath)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(at time.Time, ev *collector.Event) {
		t.Helper()
		st, err := collector.OpenStore(s.data, collector.StoreConfig{SigningKey: key})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if ev != nil {
			if err := st.AppendEvents([]collector.Event{*ev}); err != nil {
				t.Fatal(err)
			}
		}
		head, err := st.SignHead(at)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PublishChecked(ctx, head, 10*time.Second, []collector.HeadPublisher{admin}); err != nil {
			t.Fatal(err)
		}
	}
	atA, atB := s.now, s.now.Add(time.Minute)
	if aheadA {
		atA = s.now.Add(time.Hour)
	}
	publish(atA, nil)
	headA, err := admin.ReadHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	copyTree(t, s.data, backup)
	publish(atB, &collector.Event{Time: s.now, Key: prefix + "/events/1", Revision: 41, Actor: "alice",
		Action: etcdadmin.ActionKeyRevoke, Target: "acmehris1", Reason: "leaked", Ticket: "SEC-9"})
	os.RemoveAll(s.data)
	copyTree(t, backup, s.data) // the store rolled back to A
	resp, err := cli.Put(ctx, etcdsync.NewLayout(prefix).AuditHead(), string(headA))
	if err != nil {
		t.Fatal(err) // and the anchor, by hand
	}
	if compact {
		if _, err := cli.Compact(ctx, resp.Header.Revision); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// verify runs audit verify --etcd on the store.
func (s *putBackStore) verify(t *testing.T) result {
	t.Helper()
	return portcullis(t, "", nil, "audit", "verify", "--data", s.data, "--public-key", s.keyPath+".pub", "--etcd", s.endpoints, "--prefix", s.prefix)
}

// pack runs evidence pack --etcd on the store and returns its integrity
// proof.
func (s *putBackStore) pack(t *testing.T) string {
	t.Helper()
	from, to := s.now.AddDate(0, 0, -1).Format(time.DateOnly), s.now.AddDate(0, 0, 1).Format(time.DateOnly)
	period := from + "_" + to
	out := t.TempDir()
	var o, se bytes.Buffer
	args := []string{"--from", from, "--to", to, "--data", s.data, "--out", out, "--signing-key", s.keyPath, "--etcd", s.endpoints, "--prefix", s.prefix}
	if code := evidencePack(args, &o, &se); code != 0 {
		t.Fatalf("evidence pack = exit %d, want 0\n%s%s", code, &o, &se)
	}
	b, err := os.ReadFile(filepath.Join(out, "evidence-"+period, evidence.FileName("APILogging", "RetentionSettings", period, "md")))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantPutBackFound checks that audit verify and evidence pack find the
// head put back by the key's count.
func wantPutBackFound(t *testing.T, s *putBackStore) {
	t.Helper()
	r := s.verify(t)
	if r.code != 1 || !strings.Contains(r.stdout, "signed as put 2 of that key, but etcd counts 4 puts") {
		t.Errorf("audit verify of a store rolled back with an older head put back = exit %d, want 1 naming the count\n%s%s", r.code, r.stdout, r.stderr)
	}
	proof := s.pack(t)
	for _, want := range []string{"Result: FAILED", collector.ProblemRolledBack, "signed as put 2 of that key"} {
		if !strings.Contains(proof, want) {
			t.Errorf("integrity proof of a store rolled back with an older head put back lacks %q:\n%s", want, proof)
		}
	}
}

// TestVerifyFindsHeadPutBackAfterCompaction: head A put back at
// <prefix>/audit/head beside the store's copy made at A, and etcd
// compacted past the newer head B: the history holds only A, which the
// store holds, and verify and the pack said OK. The count of the key's
// puts, which the head there now was signed with, tells A put back.
func TestVerifyFindsHeadPutBackAfterCompaction(t *testing.T) {
	t.Parallel()
	wantPutBackFound(t, newPutBackStore(t, true, false))
}

// TestVerifyFindsHeadPutBackSignedLater: head A was signed an hour after
// B (the clock set back between them); put back, with etcd's whole
// history there, NewestPut did not take B for newer and verify and the
// pack said OK. The count tells A put back.
func TestVerifyFindsHeadPutBackSignedLater(t *testing.T) {
	t.Parallel()
	wantPutBackFound(t, newPutBackStore(t, false, true))
}

// TestVerifyHeadHistoryUnreadableIsNotOK: etcd's history of the head
// cannot be read after the head there now was read (a timeout on a long
// history; faked, since no real etcd fails so on demand). verify and the
// pack checked only the head there now and said OK; each now fails with
// a problem that names the history it could not read.
func TestVerifyHeadHistoryUnreadableIsNotOK(t *testing.T) {
	t.Parallel()
	s := newPutBackStore(t, false, false)
	fail := func() ([]etcdadmin.HeadPut, error) { return nil, errors.New("etcdserver: request timed out") }
	pub, err := collector.LoadPublicKey(s.keyPath + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	conn := etcdConnFlags{endpoints: s.endpoints, prefix: s.prefix}
	a := anchorFlags{etcd: conn, headHistory: fail}
	opts, err := a.options(s.data, pub)
	if err != nil {
		t.Fatal(err)
	}
	wantUnchecked := func(what string, rep *collector.VerifyReport) {
		t.Helper()
		for _, p := range rep.Problems {
			if p.What == collector.ProblemUnchecked && strings.Contains(p.Detail, "cannot read etcd's history") && strings.Contains(p.Detail, "request timed out") {
				return
			}
		}
		t.Errorf("%s with etcd's history unreadable: problems %v, want one %q naming the history", what, rep.Problems, collector.ProblemUnchecked)
	}
	rep, err := collector.VerifyWith(s.data, pub, opts)
	if err != nil {
		t.Fatal(err)
	}
	wantUnchecked("audit verify", rep)

	f := packFlags{etcd: conn, anchor: anchorFlags{headHistory: fail}}
	cfg := evidence.Config{DataDir: s.data, VerifyKey: ed25519.PublicKey(pub)}
	if err := f.readAnchor(&cfg); err != nil {
		t.Fatal(err)
	}
	rep, err = collector.VerifyWith(s.data, pub, collector.VerifyOptions{Published: cfg.Anchor.Published, OtherPublished: cfg.Anchor.Others,
		AnchorProblems: cfg.Anchor.Problems, AnchorUnchecked: cfg.Anchor.Unchecked})
	if err != nil {
		t.Fatal(err)
	}
	wantUnchecked("evidence pack's anchor", rep)
}

// TestVerifyFindsFirstPutBack: the key deleted, etcd compacted, and head
// A's first put (publication 1, no create revision) put back beside the
// store rolled back to A: etcd counts one put again and verify and the
// pack said OK. A collector never leaves a key's first put there, so it
// is a check that cannot be made, which fails.
func TestVerifyFindsFirstPutBack(t *testing.T) {
	t.Parallel()
	s := newPutBackStore(t, false, false)
	cli := s.cli
	admin := etcdadmin.New(cli, s.prefix)
	puts, err := admin.PublishedHeads(t.Context())
	if err != nil || len(puts) == 0 {
		t.Fatalf("etcd's history of the head: %d puts, %v", len(puts), err)
	}
	key := etcdsync.NewLayout(s.prefix).AuditHead()
	del, err := cli.Delete(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(t.Context(), del.Header.Revision); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(t.Context(), key, string(puts[0].Doc)); err != nil {
		t.Fatal(err)
	}
	r := s.verify(t)
	if r.code != 1 || !strings.Contains(r.stdout, "NOT CHECKED (fails)") || !strings.Contains(r.stdout, "first put of that key") {
		t.Errorf("audit verify of a store rolled back with the key's first put put back = exit %d, want 1 naming the first put\n%s%s", r.code, r.stdout, r.stderr)
	}
	proof := s.pack(t)
	for _, want := range []string{"Result: FAILED", collector.ProblemUnchecked, "first put of that key"} {
		if !strings.Contains(proof, want) {
			t.Errorf("integrity proof of a store rolled back with the key's first put put back lacks %q:\n%s", want, proof)
		}
	}
}

// TestPackFailsAStoreThatPublishedCountedHeadsWhereNoneIs: a store that
// records it published counted heads at the etcd key (its head.json and
// entries say "counted") is checked by the pack against that key; with
// the key deleted, the pack fails it as the collector's start refuses it.
// Before, the pack said the head was not found and the rollback not
// checked, for a store rolled back beside a deleted key.
func TestPackFailsAStoreThatPublishedCountedHeadsWhereNoneIs(t *testing.T) {
	t.Parallel()
	s := newPutBackStore(t, false, false)
	key := etcdsync.NewLayout(s.prefix).AuditHead()
	del, err := s.cli.Delete(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.cli.Compact(t.Context(), del.Header.Revision); err != nil {
		t.Fatal(err)
	}
	proof := s.pack(t)
	for _, want := range []string{"Result: FAILED", collector.ProblemRolledBack, "etcd " + key + " holds no head, but this store's signed head or entries record"} {
		if !strings.Contains(proof, want) {
			t.Errorf("integrity proof of a store that published counted heads at a key since deleted lacks %q:\n%s", want, proof)
		}
	}
}

// TestVerifyFindsUncountedHeadOfCountedStore: the store rolled back to
// head A's copy, whose head.json (signed, seq A, but never numbered for
// the etcd key) is put at <prefix>/audit/head by hand and etcd compacted
// past it. A head with no count passed as one a collector of a release
// before counted heads left ("NOT CHECKED:"), and verify and the pack
// said OK. The store records that it published counted heads there, so
// a head there with no count was put by hand: both fail it.
func TestVerifyFindsUncountedHeadOfCountedStore(t *testing.T) {
	t.Parallel()
	s := newPutBackStore(t, false, false)
	doc, err := os.ReadFile(filepath.Join(s.data, "head.json"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.cli.Put(t.Context(), etcdsync.NewLayout(s.prefix).AuditHead(), string(doc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.cli.Compact(t.Context(), resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	r := s.verify(t)
	if r.code != 1 || !strings.Contains(r.stdout, "carries no count") {
		t.Errorf("audit verify of a counted store with its head.json put at the key = exit %d, want 1 naming the head without a count\n%s%s", r.code, r.stdout, r.stderr)
	}
	proof := s.pack(t)
	for _, want := range []string{"Result: FAILED", collector.ProblemRolledBack, "carries no count"} {
		if !strings.Contains(proof, want) {
			t.Errorf("integrity proof of a counted store with its head.json put at the key lacks %q:\n%s", want, proof)
		}
	}
}
