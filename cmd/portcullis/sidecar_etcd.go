package main

import (
	"context"
	"flag"
	"os"
	"strings"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// sidecarEtcdFlags select etcd as the sidecar's policy source.
type sidecarEtcdFlags struct {
	endpoints string
	prefix    string
	conn      etcdsync.Config
}

func (f *sidecarEtcdFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.endpoints, "etcd", "", "etcd `endpoints`, comma-separated (etcd mode)")
	fs.StringVar(&f.prefix, "prefix", etcdsync.DefaultPrefix, "etcd key `prefix` of this deployment")
	fs.StringVar(&f.conn.CACert, "etcd-cacert", "", "PEM `file` of the etcd CA")
	fs.StringVar(&f.conn.Cert, "etcd-cert", "", "PEM `file` of the etcd client certificate")
	fs.StringVar(&f.conn.Key, "etcd-key", "", "PEM `file` of the etcd client key")
	fs.StringVar(&f.conn.Username, "etcd-user", "", "etcd `user`")
	fs.StringVar(&f.conn.Password, "etcd-password", "", "etcd `password` (prefer PORTCULLIS_ETCD_PASSWORD)")
}

// startEtcdSource watches the deployment in etcd, serving the last-known-good
// snapshot from --state-dir while etcd is unreachable.
func startEtcdSource(ctx context.Context, f sidecarFlags, store *policy.Store, log zerolog.Logger) (*policySource, error) {
	cli, err := dialEtcd(f.etcd)
	if err != nil {
		return nil, err
	}
	pod := f.pod
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
		ready:    []func() bool{syncer.Ready},
		metrics:  []func([]byte) []byte{syncer.AppendMetrics},
		close:    func() { cancel(); <-done; cli.Close() },
	}, nil
}

// dialEtcd connects with the etcd flags.
func dialEtcd(f sidecarEtcdFlags) (*clientv3.Client, error) {
	conn := f.conn
	conn.Endpoints = strings.Split(f.endpoints, ",")
	if conn.Password == "" {
		conn.Password = os.Getenv("PORTCULLIS_ETCD_PASSWORD")
	}
	return etcdsync.Dial(conn)
}
