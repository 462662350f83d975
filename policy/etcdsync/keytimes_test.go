package etcdsync_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/portcullis/portcullis/policy"
)

// An operator expires a key by hand, writing its record with not_after at
// the Unix epoch, at year 1, or before 1678: the record says the key
// ended long ago. Compiled to unix nanoseconds, the epoch is 0 ("no
// bound"), year 1 is the zero time (ignored) and a year before 1678
// overflows into the future: the key stayed valid. Such a time is now
// invalid: the record authenticates nothing.
func TestKeyExpiredLongAgoIsRefused(t *testing.T) {
	d := startDeployment(t, 1)
	sc := d.sidecars[0]
	for _, notAfter := range []string{"1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1600-01-01T00:00:00Z", "1969-12-31T23:59:59Z"} {
		key, spec, err := d.admin.CreateKey(context.Background(), "acme-hris", 0, meta)
		if err != nil {
			t.Fatal(err)
		}
		spec.NotBefore, spec.NotAfter = "", notAfter
		b, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := d.cli.Put(context.Background(), d.admin.Prefix()+"/keys/"+spec.ID, string(b))
		if err != nil {
			t.Fatal(err)
		}
		d.await(t, resp.Header.Revision)
		if got := sc.status(t, key); got != 401 {
			k := sc.store.Load().Key([]byte(spec.ID))
			t.Errorf("key with not_after %s: status %d, want 401 (compiled: %+v)", notAfter, got, k)
		}
	}
	if _, err := policy.Load("p", []byte(e2ePolicy+"keys: [{id: abcdefgh, client: acme-hris, sha256: "+
		"0000000000000000000000000000000000000000000000000000000000000000, not_after: 1970-01-01T00:00:00Z}]\n")); err == nil {
		t.Error("a policy document with a key whose not_after is the epoch loads")
	}
}
