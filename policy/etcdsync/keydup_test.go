package etcdsync_test

import (
	"context"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// TestKeyRecordWithTwiceNamedMemberLeftOut: encoding/json takes the last
// of a member named twice, and matches member names in any case, so a key
// record {"revoked":true, ..., "revoked":false} (or an expiry of 2001 in
// "NOT_AFTER" then "not_after":"") read as revoked (or long expired) to
// whoever reads the first, in etcdctl or a review, and authenticated with
// no bound at all. Such a record is now invalid, as a duplicate key of
// the policy document is: left out (authenticates nothing), counted and
// logged naming the member.
func TestKeyRecordWithTwiceNamedMemberLeftOut(t *testing.T) {
	t.Parallel()
	cli, k, a := examplePushed(t)
	logs := &logBuffer{}
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: string(k), Logger: zerolog.New(logs).Level(zerolog.InfoLevel)})
	ctx := context.Background()
	for i, c := range []struct{ front, back, why string }{
		{`"revoked":true,`, `,"revoked":false`, `member \"revoked\" appears twice`},
		{`"NOT_AFTER":"2001-01-01T00:00:00Z",`, `,"not_after":""`, `member \"NOT_AFTER\" is spelt in another case`},
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
		snap := r.atRevision(t, put.Header.Revision)
		if kk := snap.Key([]byte(spec.ID)); kk != nil {
			t.Errorf("key record %s authenticates (revoked %v, not after %d)", rec, kk.Revoked, kk.NotAfter)
		}
		if r.InvalidRecords() != int64(i+1) || !strings.Contains(logs.String(), c.why) {
			t.Errorf("invalid records %d, want %d, and a warn line saying %s:\n%s", r.InvalidRecords(), i+1, c.why, logs)
		}
	}
}
