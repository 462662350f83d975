package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// anchorFlags are what audit verify checks beyond the store itself: the
// head published outside the host, a head the operator kept, and what it
// tolerates.
type anchorFlags struct {
	etcd       etcdConnFlags
	headFile   string
	expectHead string
	allowTail  time.Duration
	allowEmpty bool
}

func (a *anchorFlags) register(fs *flag.FlagSet) {
	a.etcd.register(fs)
	fs.StringVar(&a.headFile, "published-head", "", "signed head `file` the collector publishes (--publish-head); a store behind it fails")
	fs.StringVar(&a.expectHead, "expect-head", "", "hex `hash` of a signed head kept earlier; a store without that entry fails")
	fs.DurationVar(&a.allowTail, "allow-unsigned-tail", 0, "accept entries after the signed head younger than this (e.g. 2m) and dated between the signed head and now; 0 accepts none")
	fs.BoolVar(&a.allowEmpty, "allow-empty", false, "accept a store with no entries")
}

// options reads the published heads and builds the verify options.
func (a *anchorFlags) options(pub ed25519.PublicKey) (collector.VerifyOptions, error) {
	opts := collector.VerifyOptions{AllowUnsignedTail: a.allowTail, AllowEmpty: a.allowEmpty, ExpectHead: a.expectHead}
	var docs [][]byte
	if a.headFile != "" {
		doc, err := os.ReadFile(a.headFile)
		if err != nil {
			return opts, fmt.Errorf("cannot read --published-head %q: %w", a.headFile, err)
		}
		docs = append(docs, doc)
	}
	if a.etcd.endpoints != "" {
		doc, err := a.etcdHead()
		if err != nil {
			return opts, err
		}
		docs = append(docs, doc)
	}
	for _, doc := range docs {
		h, err := collector.OpenHead(doc, pub)
		if err != nil {
			return opts, err
		}
		if opts.Published == nil || h.Seq > opts.Published.Seq {
			opts.Published = h
		}
	}
	return opts, nil
}

func (a *anchorFlags) etcdHead() ([]byte, error) {
	cli, err := dialEtcd(a.etcd)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	doc, err := etcdadmin.New(cli, a.etcd.prefix).AuditHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w (a collector started with --etcd publishes it; without one, drop --etcd)", err)
	}
	return doc, nil
}
