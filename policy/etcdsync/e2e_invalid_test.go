package etcdsync_test

import (
	"context"
	"testing"

	"github.com/portcullis/portcullis/policy"
)

// TestUndecodableKeyRecordOverHTTP is the reproduction of issue 13 item 2
// over real HTTP: `{not json` under keys/x, then a revocation; the revoked
// key must stop working and the other keys keep working.
func TestUndecodableKeyRecordOverHTTP(t *testing.T) {
	t.Parallel()
	d := startDeployment(t, 2)
	keys := d.createKeys(t, "acme-hris", 2)
	ctx := context.Background()
	resp, err := d.cli.Put(ctx, d.admin.Prefix()+"/keys/x", "{not json")
	if err != nil {
		t.Fatal(err)
	}
	d.await(t, resp.Header.Revision)
	id, _ := policy.SplitKey([]byte(keys[0]))
	rev, err := d.admin.RevokeKey(ctx, string(id), meta)
	if err != nil {
		t.Fatal(err)
	}
	d.await(t, rev)
	for _, sc := range d.sidecars {
		if got := sc.status(t, keys[0]); got != 401 {
			t.Errorf("revoked key on %s: got %d, want 401", sc.addr, got)
		}
		if got := sc.status(t, keys[1]); got != 200 {
			t.Errorf("live key on %s: got %d, want 200", sc.addr, got)
		}
	}
}
