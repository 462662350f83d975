package etcdadmin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestWriteWithoutAnswerSaysItMayHaveApplied: a write whose answer is
// lost (a proxy on loopback forwards the request to a real etcd and drops
// the answer) was reported as "context deadline exceeded" alone, and the
// operator ran it again though it had been applied. The error now matches
// ErrWriteUnknown and says the write may or may not have been applied;
// here it was.
func TestWriteWithoutAnswerSaysItMayHaveApplied(t *testing.T) {
	t.Parallel()
	prefix := newPrefix(t)
	addr := etcdtest.LostAnswerProxy(t, strings.TrimPrefix(shared.Endpoints()[0], "http://"))
	lossy, err := etcdsync.Dial(etcdsync.Config{Endpoints: []string{addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer lossy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = New(lossy, prefix).RecordEvidenceEvent(ctx, ActionEvidenceApprove, "f.csv", meta, map[string]string{"status": "Approved"})
	if !errors.Is(err, ErrWriteUnknown) || !strings.Contains(err.Error(), "may or may not have been applied") {
		t.Fatalf("a write whose answer was lost = %v; want an error saying it may or may not have been applied", err)
	}
	evs, err := New(dial(t, shared), prefix).ListEvents(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Target != "f.csv" {
		t.Errorf("events after the write whose answer was lost: %+v; want the one it applied", evs)
	}
}

// TestWriteEtcdRefusedIsNotUnknown: an error etcd answered (a request too
// large) says nothing was written, never that the write may have been.
func TestWriteEtcdRefusedIsNotUnknown(t *testing.T) {
	t.Parallel()
	a := New(dial(t, shared), newPrefix(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := a.RecordEvidenceEvent(ctx, ActionEvidenceApprove, "f.csv", meta, map[string]string{"note": strings.Repeat("x", 1700<<10)})
	if err == nil || errors.Is(err, ErrWriteUnknown) || strings.Contains(err.Error(), "may or may not") {
		t.Errorf("a write etcd refused = %v; want its error, not one saying it may have been applied", err)
	}
}
