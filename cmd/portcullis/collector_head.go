package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// headFlags say how often the collector signs its head and where it
// publishes it besides etcd.
type headFlags struct {
	every          time.Duration
	file           string
	acceptRollback bool
	// acceptMissingHead takes a store whose head.json is gone or invalid
	// (collector.StoreConfig.AcceptMissingHead).
	acceptMissingHead bool
}

func (h *headFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&h.every, "sign-every", time.Minute, "sign and publish the store's head this often, even when idle (at least 100ms)")
	fs.StringVar(&h.file, "publish-head", "", "also publish each signed head to this `file` (best on another host or mount)")
	fs.BoolVar(&h.acceptRollback, "accept-rollback", false, "continue on a store that does not hold the head published in etcd or --publish-head (a backup restored on purpose): record the rollback as a break in the chain, which audit verify keeps reporting, and move the anchors on")
	fs.BoolVar(&h.acceptMissingHead, "accept-missing-head", false, "continue on a store whose head.json is missing or invalid (gone, empty, garbled or not signed by the store's key: no crash leaves that, but a collector older than the head's fsync could leave it empty), or older than the newest head its entries record as written durably (an older copy put back): record it as a break in the chain, naming this flag, the user and the host, which audit verify keeps reporting; drop the flag once started: while it is given, a head deleted or garbled later is taken too")
}

// acceptedBy says who accepted a store without a valid head, for the break
// the store records: the flag, the user and the host.
func (h *headFlags) acceptedBy() string {
	if !h.acceptMissingHead {
		return ""
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("--accept-missing-head (uid %d on host %q)", os.Getuid(), host)
}

// checkAnchors refuses to start on a store that does not hold the head
// published at an anchor (it was rolled back or forked) unless
// --accept-rollback, which records each such head in the chain.
func (h *headFlags) checkAnchors(ctx context.Context, store *collector.Store, pubs []collector.HeadPublisher, c collectorFlags, log *zerolog.Logger) error {
	accepted, err := store.CheckAnchors(ctx, pubs, 10*time.Second, h.acceptRollback)
	for _, ae := range accepted {
		log.Warn().Str("anchor", ae.Where).Str("problem", ae.Error()).Msg("--accept-rollback: the rollback is recorded as a break in the chain (audit verify keeps reporting it); the anchor moves on to this store")
	}
	if err != nil && errors.Is(err, collector.ErrAnchorNotHeld) {
		return fmt.Errorf("%w\nnot starting on this store: inspect it with `portcullis audit verify --data %s --public-key FILE %s`; "+
			"if the store was restored from a backup on purpose, start the collector with --accept-rollback, which records the rollback in the chain and moves the anchor on",
			err, c.data, h.verifyFlags(c))
	}
	return err
}

// verifyFlags are the audit verify flags that compare a store with the
// anchors this collector publishes to.
func (h *headFlags) verifyFlags(c collectorFlags) string {
	var f []string
	if c.etcd.endpoints != "" {
		f = append(f, "--etcd "+c.etcd.endpoints, "--prefix "+c.etcd.prefix)
	}
	if h.file != "" {
		f = append(f, "--published-head "+h.file)
	}
	return strings.Join(f, " ")
}

// The anchors the collector publishes to are read back before it does.
var (
	_ collector.HeadAnchor = (*etcdadmin.Admin)(nil)
	_ collector.HeadAnchor = collector.FileAnchor("")
)

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
	if doc != nil { // a head that could not be installed in the store is published all the same
		err = errors.Join(err, store.PublishChecked(context.Background(), doc, 5*time.Second, pubs))
	}
	if err != nil {
		log.Error().Err(err).Msg("publishing the final signed head")
	}
}
