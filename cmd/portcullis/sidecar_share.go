package main

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/portcullis/portcullis/dataplane"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// primeWait bounds how long a starting sidecar waits for the member count
// before it serves; etcd's absence then means the whole limit until it
// answers (etcdsync.Sharer.Prime).
const primeWait = 2 * time.Second

// startSharer runs the Sharer that makes srv's tenant limits global across
// the deployment's sidecars (issue 17) until ctx ends, tracked by wg, and
// returns its metric families.
func startSharer(ctx context.Context, wg *sync.WaitGroup, cli *clientv3.Client, prefix, pod string, srv *dataplane.Server, store *policy.Store, log zerolog.Logger) []dataplane.Family {
	sh := etcdsync.NewSharer(cli, etcdsync.ShareConfig{Prefix: prefix, Pod: pod, Logger: log,
		Demand: srv.Demand,
		Ceiling: func(tenant bool, id string) float64 {
			return etcdsync.DemandCeiling(store.Load(), tenant, id)
		},
		MaxMembers: func() int {
			if snap := store.Load(); snap != nil {
				return snap.GlobalMaxSidecars
			}
			return 0
		},
		Apply: func(s etcdsync.Shares) {
			srv.SetShares(dataplane.Shares{Tenants: s.Tenants, Clients: s.Clients, Default: s.Default})
		},
	})
	pctx, cancel := context.WithTimeout(ctx, primeWait)
	if err := sh.Prime(pctx); err != nil {
		log.Warn().Err(err).Msg("cannot read the members: global limits start from the whole limit until etcd answers")
	}
	cancel()
	wg.Go(func() {
		if err := sh.Run(ctx); err != nil {
			log.Error().Err(err).Msg("global limits stopped")
		}
	})
	return shareFamilies(sh, store)
}

// shareFamilies are the metric families of global limits. The share gauge
// has a series only for the tenants of the policy in force with traffic in
// the deployment, so its cardinality is bounded by the policy.
func shareFamilies(sh *etcdsync.Sharer, store *policy.Store) []dataplane.Family {
	return []dataplane.Family{
		{Name: "portcullis_global_limit_share", Type: "gauge",
			Help:    "This sidecar's share of each busy tenant's deployment-wide limits (tenant and tenant+class), from 0 to 1.",
			Samples: func(b []byte) []byte { return appendShares(b, sh, store.Load()) }},
		dataplane.Gauge("portcullis_global_limit_fallback", "1 while etcd is unreachable and every share is 1/(the last known member count); 0 while shares follow demand.",
			func() float64 { return b2f(sh.Fallback()) }),
		dataplane.Gauge("portcullis_global_limit_members", "Live sidecars the global limits were last shared among.",
			func() float64 { return float64(sh.Members()) }),
		dataplane.Gauge("portcullis_global_limit_max_sidecars", "global_limits.max_sidecars the shares were last computed with: the most members a limit is shared among.",
			func() float64 { return float64(sh.MaxMembers()) }),
		dataplane.Gauge("portcullis_global_limit_members_over_bound", "1 while more live members than global_limits.max_sidecars are listed: shares are as among max_sidecars and the deployment may admit more than a limit (fake member records from a stolen sidecar certificate, or more replicas than max_sidecars).",
			func() float64 { return b2f(sh.OverBound()) }),
		dataplane.Counter("portcullis_global_demand_writes_total", "Demand records written to etcd, or deleted when the traffic stopped (at most one per second, only while a tenant has traffic).",
			func() uint64 { return uint64(sh.Writes()) }),
		dataplane.Counter("portcullis_global_demand_records_refused_total", "Peers' demand records ignored (counted as no demand) as larger than 128 KiB or holding more than 1024 rates: no sidecar writes one, so a stolen sidecar certificate is likely.",
			func() uint64 { return uint64(sh.RefusedDemand()) }),
		dataplane.Counter("portcullis_global_demand_etcd_revision_rewinds_total", "Checks that found etcd below the revision the demand watch had reached (restored or replaced cluster); members and demand records were read again and watched from etcd's revision.",
			func() uint64 { return uint64(sh.Rewinds()) }),
	}
}

func appendShares(b []byte, sh *etcdsync.Sharer, snap *policy.Snapshot) []byte {
	if snap == nil {
		return b
	}
	sh.TenantShares(func(tenant string, share float64) {
		if snap.Tenants[tenant] == nil {
			return // a peer's policy may name tenants ours lacks
		}
		b = append(b, `portcullis_global_limit_share{tenant="`...)
		b = append(b, tenant...) // ids match policy's id pattern: no quoting needed
		b = append(b, `"} `...)
		b = strconv.AppendFloat(b, share, 'f', 4, 64)
		b = append(b, '\n')
	})
	return b
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}
