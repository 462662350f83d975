package main

import (
	"context"
	"errors"
	"flag"

	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
)

// sidecarEtcdFlags select etcd as the sidecar's policy source.
type sidecarEtcdFlags struct {
	endpoints string
	prefix    string
}

func (f *sidecarEtcdFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.endpoints, "etcd", "", "etcd `endpoints`, comma-separated (etcd mode)")
	fs.StringVar(&f.prefix, "prefix", "/portcullis/default", "etcd key `prefix` of this deployment")
}

func startEtcdSource(ctx context.Context, f sidecarFlags, store *policy.Store, log zerolog.Logger) (*policySource, error) {
	return nil, errors.New("etcd mode is not wired yet")
}
