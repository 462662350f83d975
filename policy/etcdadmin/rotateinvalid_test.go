package etcdadmin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestRotateRefusesARecordTheSidecarsLeaveOut: RotateKey read the old
// record with a lax decoder and wrote it back as that decoder read it, so
// a record the sidecars refuse (an expiry of 2001 spelt "expires", or
// "revoked" named twice) came back valid: the key authenticated again, for
// the overlap, with no expiry. Rotation now refuses such a record, names
// why, and leaves it as it was.
func TestRotateRefusesARecordTheSidecarsLeaveOut(t *testing.T) {
	t.Parallel()
	cli, prefix, a, r := deployment(t)
	k := etcdsync.NewLayout(prefix)
	ctx := context.Background()
	for _, c := range []struct{ front, back, why string }{
		{`"expires":"2001-01-01T00:00:00Z",`, ``, `unknown field "expires"`},
		{`"revoked":true,`, `,"revoked":false`, `member "revoked" appears twice`},
	} {
		_, spec, err := a.CreateKey(ctx, "acme-hris", 0, meta)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cli.Get(ctx, k.Key(spec.ID))
		if err != nil || len(got.Kvs) != 1 {
			t.Fatalf("key record: %v %v", got, err)
		}
		rec := string(got.Kvs[0].Value)
		rec = "{" + c.front + rec[1:len(rec)-1] + c.back + "}"
		put, err := cli.Put(ctx, k.Key(spec.ID), rec)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = a.RotateKey(ctx, spec.ID, time.Hour, meta)
		if err == nil || !strings.Contains(err.Error(), c.why) || !strings.Contains(err.Error(), "the sidecars leave it out") {
			t.Errorf("RotateKey of %s: %v; want a refusal naming %s", rec, err, c.why)
		}
		after, err := cli.Get(ctx, k.Key(spec.ID))
		if err != nil || len(after.Kvs) != 1 {
			t.Fatalf("key record after: %v %v", after, err)
		}
		if string(after.Kvs[0].Value) != rec {
			t.Errorf("rotation rewrote the record the sidecars leave out:\n%s\nwas\n%s", after.Kvs[0].Value, rec)
		}
		// The put's revision, not the read's: etcd is shared with the
		// package's other tests, and a read's revision counts their
		// writes, which this prefix's sidecar never sees, so it waited for
		// a revision it would never reach.
		r.atRevision(t, put.Header.Revision)
		if r.store.Load().Key([]byte(spec.ID)) != nil {
			t.Errorf("key %s authenticates after the rotation", spec.ID)
		}
	}
}
