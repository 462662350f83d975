package etcdsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Every sidecar shares one etcd user, so a live stolen sidecar certificate
// may write what it likes under demand/ and members/. Before, every
// sidecar decoded and walked a 1 MB demand record of 40,000 rates on each
// recompute, and a member claiming 10^9 requests/s for acme held every
// real sidecar to the floor of acme's limit (0.1 of it here, for a
// sidecar carrying all the traffic). Now a record above
// etcdsync.MaxDemandBytes or MaxDemandEntries is ignored, counted and
// logged once; a rate counts up to the ceiling (the limit) and not at all
// for an id without a global limit; and a demand record of a pod that is
// no live member is not kept.
func TestSharerCapsHostileDemand(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Revoke(context.Background(), lease.ID) })
	put := func(key, v string) {
		t.Helper()
		if _, err := cli.Put(ctx, key, v, clientv3.WithLease(lease.ID)); err != nil {
			t.Fatal(err)
		}
	}
	put(k.Member("evil"), `{"pod":"evil"}`)
	logs := &logBuffer{}
	p1 := startSharePodWith(t, cli, prefix, "p1", func(c *etcdsync.ShareConfig) {
		c.Logger = zerolog.New(logs)
		c.Ceiling = func(tenant bool, id string) float64 {
			if tenant && id == "acme" {
				return 300
			}
			return 0
		}
	})
	go send(ctx, map[*sharePod]uint64{p1: 300})
	share := func(what string, want float64) {
		t.Helper()
		pollDetail(t, what, func() (bool, string) {
			got := p1.shares().Tenants["acme"]
			return math.Abs(got-want) < 0.02 && p1.sh.Members() == 2, "share " + ftoa(got) + ", want " + ftoa(want) + ", members " + strconv.FormatInt(p1.sh.Members(), 10)
		})
	}

	// A huge record, republished: ignored (p1 as if evil had no demand),
	// counted each time, logged once.
	var big strings.Builder
	big.WriteString(`{"t":{"acme":1e9`)
	for i := range 40_000 {
		fmt.Fprintf(&big, `,"t%d":1e9`, i)
	}
	big.WriteString("}}")
	for range 3 {
		put(k.DemandDir()+"evil", big.String())
	}
	share("p1's share of acme with evil's huge record ignored", 0.1+0.8)
	pollDetail(t, "the huge records counted", func() (bool, string) {
		return p1.sh.RefusedDemand() >= 3, "refused " + strconv.FormatInt(p1.sh.RefusedDemand(), 10)
	})
	if n := strings.Count(logs.String(), "demand record too large"); n != 1 {
		t.Errorf("%d log lines for evil's huge records, want 1:\n%s", n, logs)
	}
	// Small but many: more than MaxDemandEntries rates.
	many := map[string]float64{"acme": 1e9}
	for i := range etcdsync.MaxDemandEntries {
		many["t"+strconv.Itoa(i)] = 1
	}
	b, _ := json.Marshal(etcdsync.DemandRecord{Tenants: many})
	if len(b) > etcdsync.MaxDemandBytes {
		t.Fatalf("the record of too many rates is %d bytes, above the byte cap", len(b))
	}
	before := p1.sh.RefusedDemand()
	put(k.DemandDir()+"evil", string(b))
	pollDetail(t, "the record of too many rates counted", func() (bool, string) {
		return p1.sh.RefusedDemand() > before, "refused " + strconv.FormatInt(p1.sh.RefusedDemand(), 10)
	})
	share("p1's share of acme with evil's record of too many rates ignored", 0.1+0.8)

	// Inflated: evil's 10^9/s for acme counts as acme's ceiling, 300/s,
	// and its rates for ids without a global limit not at all.
	put(k.DemandDir()+"evil", `{"t":{"acme":1e9,"nolimit":1e9}}`)
	share("p1's share of acme with evil's demand clamped to the limit", 0.1+0.8*300/600)
	if _, ok := p1.shares().Tenants["nolimit"]; ok {
		t.Error("a peer's demand for a tenant without a global limit was counted")
	}

	// A demand record of a pod that is no live member does not count.
	if _, err := cli.Delete(ctx, k.DemandDir()+"evil"); err != nil {
		t.Fatal(err)
	}
	put(k.DemandDir()+"ghost", `{"t":{"acme":300}}`)
	share("p1's share of acme beside a non-member's demand", 0.1+0.8)
}

// TestDemandRecordOfAThousandFits: a sidecar's own record of 1000 busy
// tenants with ids of the longest length the policy allows (63) and
// rates with every digit stays well within etcdsync.MaxDemandBytes, and a
// record of more than MaxDemandEntries busy ids is published with the
// busiest MaxDemandEntries, so a real sidecar's record is never refused.
func TestDemandRecordOfAThousandFits(t *testing.T) {
	t.Parallel()
	rates := map[string]float64{}
	for i := range 1000 {
		rates[fmt.Sprintf("%063d", i)] = 100000 + float64(i)/7
	}
	b, err := json.Marshal(etcdsync.DemandRecord{Tenants: rates}.Published())
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > etcdsync.MaxDemandBytes*3/4 {
		t.Errorf("a record of 1000 rates is %d bytes, want at most 3/4 of %d", len(b), etcdsync.MaxDemandBytes)
	}
	for i := range 2000 {
		rates[fmt.Sprintf("%063d", i)] = float64(i)
	}
	pub := etcdsync.DemandRecord{Tenants: rates}.Published()
	b, _ = json.Marshal(pub)
	if len(pub.Tenants) != etcdsync.MaxDemandEntries || len(b) > etcdsync.MaxDemandBytes {
		t.Fatalf("published %d rates in %d bytes, want %d within %d", len(pub.Tenants), len(b), etcdsync.MaxDemandEntries, etcdsync.MaxDemandBytes)
	}
	if _, ok := pub.Tenants[fmt.Sprintf("%063d", 1999)]; !ok {
		t.Error("the busiest id was left out")
	}
}

// TestDemandCeiling: the ceiling of a tenant is the highest of its limits
// per second (tenant, tenant+class), rate or burst; a global client's its
// limit; 0 for an id without a global limit.
func TestDemandCeiling(t *testing.T) {
	t.Parallel()
	snap := &policy.Snapshot{
		Tenants: map[string]*policy.Tenant{"acme": {ID: "acme", Limit: policy.Rate{Events: 100, Per: time.Second, Burst: 50}}, "free": {ID: "free"}},
		Clients: map[string]*policy.Client{"g": {ID: "g", Global: true, Limit: policy.Rate{Events: 60, Per: time.Minute, Burst: 5}}, "l": {ID: "l", Limit: policy.Rate{Events: 9, Per: time.Second}}},
		Classes: []*policy.Class{{Name: "write", Limit: policy.Rate{Events: 10, Per: time.Second, Burst: 200}}},
	}
	for _, c := range []struct {
		tenant bool
		id     string
		want   float64
	}{{true, "acme", 200}, {true, "free", 200}, {true, "nobody", 0}, {false, "g", 5}, {false, "l", 0}, {false, "nobody", 0}} {
		if got := etcdsync.DemandCeiling(snap, c.tenant, c.id); got != c.want {
			t.Errorf("DemandCeiling(%v, %q) = %v, want %v", c.tenant, c.id, got, c.want)
		}
	}
	if got := etcdsync.DemandCeiling(nil, true, "acme"); got != 0 {
		t.Errorf("DemandCeiling(nil) = %v, want 0", got)
	}
}
