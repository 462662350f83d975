package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/portcullis/portcullis/dataplane"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// startEtcdSource watches the deployment in etcd, serving the last-known-good
// snapshot from --state-dir while etcd is unreachable.
func startEtcdSource(ctx context.Context, f sidecarFlags, store *policy.Store, log zerolog.Logger) (*policySource, error) {
	// The Syncer stops at once on a state directory it cannot create;
	// the sidecar would then serve 503 for ever with etcd up, so it does
	// not start (a read-only root filesystem and the default
	// "portcullis-state", say).
	if f.stateDir != "" {
		if err := os.MkdirAll(f.stateDir, 0o700); err != nil {
			return nil, fmt.Errorf("cannot create --state-dir %q (mount a writable volume there): %w", f.stateDir, err)
		}
		if err := etcdsync.CheckStateDir(f.stateDir); err != nil {
			return nil, fmt.Errorf("--state-dir: %w", err)
		}
	}
	pod := f.podName()
	if pod == "" {
		// Without a name the sidecar keeps no member record, so the
		// evidence pack can never check its silence: refused, as
		// nothing would show it up.
		return nil, errors.New("the sidecar has no name for its member record in etcd: set --pod or $POD_NAME (the hostname is empty)")
	}
	cli, err := dialEtcdRenewing(f.etcd, log)
	if err != nil {
		return nil, err
	}
	syncer := etcdsync.NewSyncer(cli, store, etcdsync.SyncConfig{Prefix: f.etcd.prefix, StateDir: f.stateDir, Pod: pod, Logger: log, Now: f.clock})
	ledger := etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: f.etcd.prefix, Pod: pod, Logger: log})
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { ledger.Run(ctx) })
	wg.Go(func() {
		if err := syncer.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error().Err(err).Msg("policy sync stopped")
		}
	})
	var sharing sync.WaitGroup
	return &policySource{
		watching:  true,
		prefix:    f.etcd.prefix,
		approvals: approvalLedger{ledger},
		checks:    []dataplane.Check{{Name: "etcd", State: etcdState(syncer)}, {Name: "last-known-good", State: lkgState(syncer)}},
		families: append(etcdFamilies(syncer),
			dataplane.Counter("portcullis_approvals_etcd_revision_rewinds_total", "Checks that found etcd below the revision the approvals watch had reached (restored or replaced cluster); the approvals were read again and watched from etcd's revision.",
				func() uint64 { return uint64(ledger.Rewinds()) })),
		close: func() { cancel(); wg.Wait(); ledger.Wait(); sharing.Wait(); logClose(cli, &log, "etcd client") },
		global: func(srv *dataplane.Server) []dataplane.Family {
			return startSharer(ctx, &sharing, cli, f.etcd.prefix, pod, srv, store, log)
		},
	}, nil
}

// etcdState is the etcd line of /readyz: ready once a policy state is
// applied; the detail says whether it is current or the last-known-good
// file, and why the last policy was refused.
func etcdState(s *etcdsync.Syncer) func() (bool, string) {
	return func() (bool, string) {
		var d string
		rev := strconv.FormatInt(s.Revision(), 10)
		down := s.UnreachableSince()
		since := ""
		if !down.IsZero() {
			since = " since " + down.UTC().Format(time.RFC3339)
		}
		switch {
		case !s.Ready() && s.LastError() != "":
			// etcd was read: its document is refused, and no good one
			// is known (no last-known-good file, or one without a
			// document that compiles with etcd's records).
			d = "no policy state applied yet: the policy in etcd is refused and no earlier good policy is known (push a fixed one)"
		case !s.Ready():
			d = "no policy state applied yet: etcd not read and no last-known-good snapshot"
		case s.Current() && down.IsZero():
			d = "in sync at revision " + rev
		case s.Current():
			// The watch is open but etcd does not answer reads: a
			// partition or a hung member. Changes do not arrive.
			d = "etcd unreachable" + since + ": enforcing the policy in force, revision " + rev
		default:
			d = "etcd unreachable" + since + ": serving the last-known-good snapshot, revision " + rev
		}
		if s.Ready() {
			d += "; " + s.Confirmation()
		}
		if e := s.LastError(); e != "" {
			d += "; last policy refused: " + e
		}
		return s.Ready(), d
	}
}

// lkgState is the last-known-good line of /readyz: the revision last saved
// to --state-dir, or since when and why saves fail. It never fails
// readiness: the policy in force is in memory and current with etcd; only
// a restart while etcd is unreachable would serve the older file (or
// none), and failing every pod on a full disk would turn that into an
// outage now. portcullis_policy_lkg_failing and its alert report it.
func lkgState(s *etcdsync.Syncer) func() (bool, string) {
	return func() (bool, string) { return true, s.LKGHealth().String() }
}

// etcdFamilies registers the Syncer's metrics as families of /metrics.
func etcdFamilies(s *etcdsync.Syncer) []dataplane.Family {
	var fams []dataplane.Family
	for _, m := range s.Metrics() {
		if m.Type == "counter" {
			fams = append(fams, dataplane.Counter(m.Name, m.Help, func() uint64 { return uint64(max(m.Value(), 0)) }))
		} else {
			fams = append(fams, dataplane.Gauge(m.Name, m.Help, m.Value))
		}
	}
	return fams
}

// approvalLedger gives the data plane the etcd ledger's holds
// (etcdsync.Hold) as dataplane.ApprovalHold.
type approvalLedger struct{ l *etcdsync.Ledger }

// Outlasts is the ledger's check of its holds against the data plane's wait.
func (a approvalLedger) Outlasts(wait time.Duration) error { return a.l.Outlasts(wait) }

func (a approvalLedger) Reserve(id []byte, client, route string, requestID []byte, now time.Time) dataplane.ApprovalHold {
	if h := a.l.Reserve(id, client, route, requestID, now); h != nil {
		return h
	}
	return nil // not a nil *Hold in the interface
}
