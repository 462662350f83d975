package etcdsync_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// TestKeyRecordWithUnknownFieldLeftOut: a key record written by hand with
// a field the sidecar does not know (an expiry spelt "expires" for
// "not_after") is invalid, as an unknown field in the policy document is:
// it is left out (authenticates nothing), counted and logged naming the
// field. Before, the field was dropped in silence and the key
// authenticated with no expiry at all.
func TestKeyRecordWithUnknownFieldLeftOut(t *testing.T) {
	t.Parallel()
	cli, k, a := examplePushed(t)
	logs := &logBuffer{}
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: string(k), Logger: zerolog.New(logs).Level(zerolog.InfoLevel)})
	ctx := context.Background()
	_, spec, err := a.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	got, err := cli.Get(ctx, k.Key(spec.ID))
	if err != nil || len(got.Kvs) != 1 {
		t.Fatalf("key record: %v %v", got, err)
	}
	if err := json.Unmarshal(got.Kvs[0].Value, &rec); err != nil {
		t.Fatal(err)
	}
	rec["expires"] = "2001-01-01T00:00:00Z"
	b, _ := json.Marshal(rec)
	put, err := cli.Put(ctx, k.Key(spec.ID), string(b))
	if err != nil {
		t.Fatal(err)
	}
	snap := r.atRevision(t, put.Header.Revision)
	if snap.Key([]byte(spec.ID)) != nil {
		t.Fatalf("key record with the unknown field \"expires\" authenticates (no expiry in force)")
	}
	if r.InvalidRecords() != 1 || !strings.Contains(logs.String(), `unknown field \"expires\"`) {
		t.Errorf("invalid records %d, want 1, and a warn line naming the field:\n%s", r.InvalidRecords(), logs)
	}
}
