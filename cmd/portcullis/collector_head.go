package main

import (
	"context"
	"flag"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// headFlags say how often the collector signs its head and where it
// publishes it besides etcd.
type headFlags struct {
	every time.Duration
	file  string
}

func (h *headFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&h.every, "sign-every", time.Minute, "sign and publish the store's head this often, even when idle")
	fs.StringVar(&h.file, "publish-head", "", "also publish each signed head to this file (best on another host or mount)")
}

// publishers lists where signed heads go: etcd under the deployment prefix
// when the collector has --etcd, and the --publish-head file.
func (h *headFlags) publishers(admin *etcdadmin.Admin) []collector.HeadPublisher {
	var pubs []collector.HeadPublisher
	if admin != nil {
		pubs = append(pubs, admin)
	}
	if h.file != "" {
		pubs = append(pubs, collector.FileAnchor(h.file))
	}
	return pubs
}

// publishFinalHead seals the store and publishes its last head, so the
// anchor names every entry stored before shutdown.
func publishFinalHead(store *collector.Store, pubs []collector.HeadPublisher, log *zerolog.Logger) {
	if err := store.Close(); err != nil {
		log.Error().Err(err).Msg("closing the store")
	}
	doc, err := store.SignHead(time.Now())
	if err == nil {
		err = collector.PublishHead(context.Background(), doc, 5*time.Second, pubs)
	}
	if err != nil {
		log.Error().Err(err).Msg("publishing the final signed head")
	}
}
