package main

import (
	"context"
	"flag"
	"os"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/dataplane"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// sidecarEtcdFlags say how to reach etcd, with the flag names every
// command shares: --etcd, --prefix, --etcd-cacert, --etcd-cert,
// --etcd-key and --etcd-user; the password comes from
// PORTCULLIS_ETCD_PASSWORD. The sidecar and the collector use etcd only
// when --etcd is given.
type sidecarEtcdFlags struct {
	endpoints string
	prefix    string
	conn      etcdsync.Config
}

func (f *sidecarEtcdFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.endpoints, "etcd", "", "etcd `endpoints`, comma-separated (etcd mode)")
	f.registerConn(fs)
}

// registerConn registers every etcd flag but --etcd.
func (f *sidecarEtcdFlags) registerConn(fs *flag.FlagSet) {
	fs.StringVar(&f.prefix, "prefix", etcdsync.DefaultPrefix, "etcd key `prefix` of this deployment")
	fs.StringVar(&f.conn.CACert, "etcd-cacert", "", "PEM `file` of the CA that signed the etcd server certificates")
	fs.StringVar(&f.conn.Cert, "etcd-cert", "", "PEM `file` of the etcd client certificate (with --etcd-key)")
	fs.StringVar(&f.conn.Key, "etcd-key", "", "PEM `file` of the etcd client key")
	fs.StringVar(&f.conn.Username, "etcd-user", "", "etcd `user`; the password is read from PORTCULLIS_ETCD_PASSWORD")
	fs.StringVar(&f.conn.Password, "etcd-password", "", deprecatedPrefix+"PORTCULLIS_ETCD_PASSWORD")
}

// config returns the etcd client configuration, the password taken from
// PORTCULLIS_ETCD_PASSWORD unless the deprecated flag gave one.
func (f *sidecarEtcdFlags) config() etcdsync.Config {
	conn := f.conn
	conn.Endpoints = nil
	for _, e := range strings.Split(f.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			conn.Endpoints = append(conn.Endpoints, e)
		}
	}
	if conn.Password == "" {
		conn.Password = os.Getenv("PORTCULLIS_ETCD_PASSWORD")
	}
	return conn
}

// startEtcdSource watches the deployment in etcd, serving the last-known-good
// snapshot from --state-dir while etcd is unreachable.
func startEtcdSource(ctx context.Context, f sidecarFlags, store *policy.Store, log zerolog.Logger) (*policySource, error) {
	cli, err := dialEtcd(f.etcd)
	if err != nil {
		return nil, err
	}
	pod := f.podName()
	if pod == "" {
		pod, _ = os.Hostname()
	}
	syncer := etcdsync.NewSyncer(cli, store, etcdsync.SyncConfig{Prefix: f.etcd.prefix, StateDir: f.stateDir, Pod: pod, Logger: log})
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := syncer.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error().Err(err).Msg("policy sync stopped")
		}
	}()
	return &policySource{
		watching: true,
		checks:   []dataplane.Check{{Name: "etcd", State: etcdState(syncer)}},
		families: etcdFamilies(syncer),
		close:    func() { cancel(); <-done; cli.Close() },
	}, nil
}

// etcdState is the etcd line of /readyz: ready once a policy state is
// applied; the detail says whether it is current or the last-known-good
// file, and why the last policy was refused.
func etcdState(s *etcdsync.Syncer) func() (bool, string) {
	return func() (bool, string) {
		var d string
		switch {
		case !s.Ready():
			d = "no policy state applied yet: etcd not read and no last-known-good snapshot"
		case s.Current():
			d = "in sync at revision " + strconv.FormatInt(s.Revision(), 10)
		default:
			d = "etcd unreachable: serving the last-known-good snapshot"
		}
		if e := s.LastError(); e != "" {
			d += "; last policy refused: " + e
		}
		return s.Ready(), d
	}
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

// dialEtcd connects with the etcd flags.
func dialEtcd(f sidecarEtcdFlags) (*clientv3.Client, error) {
	return etcdsync.Dial(f.config())
}
