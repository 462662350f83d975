package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/dataplane"
	"github.com/portcullis/portcullis/examples"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A sidecar whose etcd lists more members than the policy's
// global_limits.max_sidecars says so on /metrics
// (portcullis_global_limit_members_over_bound 1, beside the bound) and in
// a warn line, and shares every limit as among max_sidecars: fake member
// records put with a stolen sidecar certificate are seen (members185).
func TestSidecarReportsMembersOverBound(t *testing.T) {
	e := startEtcd(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	doc, err := policy.Load("policy.yaml", append(bytes.Clone(examples.Policy), "\nglobal_limits:\n  max_sidecars: 2\n"...))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := policy.Compile(doc, policy.Live{})
	if err != nil {
		t.Fatal(err)
	}
	store := &policy.Store{}
	store.Swap(snap)
	srv, err := dataplane.New(dataplane.Config{Store: store, Upstream: "127.0.0.1:1", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	const prefix = "/bound"
	k := etcdsync.NewLayout(prefix)
	lease, err := cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		pod := "fake-" + strconv.Itoa(i)
		if _, err := cli.Put(ctx, k.Member(pod), `{"pod":"`+pod+`"}`, clientv3.WithLease(lease.ID)); err != nil {
			t.Fatal(err)
		}
	}
	var logs lockedBuffer
	fams := startSharer(ctx, &wg, cli, prefix, "p1", srv, store, zerolog.New(&logs))
	metrics := func() string {
		var b []byte
		for _, f := range fams {
			b = f.Samples(b)
		}
		return string(b)
	}
	got := metrics()
	for _, want := range []string{"portcullis_global_limit_members 4\n", "portcullis_global_limit_max_sidecars 2\n", "portcullis_global_limit_members_over_bound 1\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("metrics lack %q:\n%s", want, got)
		}
	}
	if !strings.Contains(logs.String(), "more live members than global_limits.max_sidecars") {
		t.Errorf("no warn line for the members above the bound:\n%s", logs.String())
	}
}
