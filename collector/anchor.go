package collector

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/portcullis/portcullis/internal/durable"
)

// HeadPublisher keeps a copy of each signed head somewhere a person with
// write access to the store's directory cannot silently reset, so that a
// store rolled back to an older copy, or emptied, is found by Verify
// (issue 21, item 3). The collector publishes to etcd under the deployment
// prefix (etcdadmin.Admin) and, when the operator names one, to a file
// (FileAnchor).
type HeadPublisher interface {
	PublishHead(ctx context.Context, head []byte) error
}

// FileAnchor publishes each signed head to a file the operator chooses
// (best on another host or mount: a file beside the store is rolled back
// with it). The file is replaced atomically.
type FileAnchor string

// ErrHeadBehind is returned (wrapped) when a head to publish names an
// earlier entry than the one already published: the store was rolled back.
var ErrHeadBehind = errors.New("collector: head behind the published one")

// PublishHead writes head to the file unless the head already there names
// a later entry (a collector restarted on an older copy of its store must
// not reset the anchor it will be checked against).
func (a FileAnchor) PublishHead(_ context.Context, head []byte) error {
	if old, err := readRegular(string(a), maxDocBytes); err == nil {
		if cur, next := unverifiedSeq(old), unverifiedSeq(head); cur > next {
			return fmt.Errorf("%w: %q names seq %d, this head seq %d", ErrHeadBehind, string(a), cur, next)
		}
	}
	return durable.WriteFile(filepath.Dir(string(a)), filepath.Base(string(a)), head)
}

// unverifiedSeq reads a signed head's seq without checking the signature.
func unverifiedSeq(doc []byte) uint64 {
	var d signedDoc
	var h storeHead
	if json.Unmarshal(doc, &d) != nil || json.Unmarshal(d.Payload, &h) != nil {
		return 0
	}
	return h.Seq
}

// SignHead signs the chain tip with time now, installs it as the store's
// head and returns the signed document for publication. The collector calls
// it on a timer (RunHeadSigner) even when nothing was appended, as
// CloudTrail delivers digest files every hour whether or not there was
// activity: a head's time says the collector was alive then.
func (s *Store) SignHead(now time.Time) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signHeadLocked(now)
}

// signHeadLocked signs the chain tip at now and installs it as head.json.
// It is renamed into place without an fsync of its own: after a crash the
// head may lag the segments (recovery then records a break) but it never
// runs ahead of them, because the entry itself was fsync'd first.
func (s *Store) signHeadLocked(now time.Time) ([]byte, error) {
	ret := int64(s.cfg.Retention / time.Second)
	doc, _, err := signDoc(s.cfg.SigningKey, domainHead, storeHead{Segment: s.segNum, Seq: s.seq,
		Hash: hex.EncodeToString(s.prev[:]), Time: now.UTC(), RetentionSeconds: &ret})
	if err != nil {
		return nil, err
	}
	return doc, installHead(s.dir, doc)
}

// installHead replaces dir/head.json with data through a temporary file
// that is created exclusively: a symlink planted at the temporary name is
// removed, never written through.
func installHead(dir string, data []byte) error {
	const name = headFile
	tmp := filepath.Join(dir, "."+name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		os.Remove(tmp)
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return fmt.Errorf("collector: cannot write %q: %w", tmp, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("collector: cannot install %q in %q: %w", name, dir, err)
	}
	return nil
}

// RunHeadSigner signs the head every interval until ctx ends, even when
// nothing was appended, and hands each signed head to every publisher.
// It signs and publishes once at the start. Failures go to onErr (which
// may be nil); a publisher that fails is tried again at the next tick.
func (s *Store) RunHeadSigner(ctx context.Context, every time.Duration, pubs []HeadPublisher, onErr func(error)) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	s.signAndPublish(ctx, time.Now(), every, pubs, onErr)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.signAndPublish(ctx, now, every, pubs, onErr)
		}
	}
}

func (s *Store) signAndPublish(ctx context.Context, now time.Time, every time.Duration, pubs []HeadPublisher, onErr func(error)) {
	doc, err := s.SignHead(now)
	if err == nil {
		err = PublishHead(ctx, doc, every, pubs)
	}
	if err != nil && onErr != nil {
		onErr(err)
	}
}

// PublishHead hands head to every publisher, each within timeout, and
// returns the failures joined.
func PublishHead(ctx context.Context, head []byte, timeout time.Duration, pubs []HeadPublisher) error {
	var errs []error
	for _, p := range pubs {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		if err := p.PublishHead(pctx, head); err != nil {
			errs = append(errs, fmt.Errorf("collector: cannot publish the signed head: %w", err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// PublishedHead is a signed head as read back from where it was published.
type PublishedHead struct {
	Seq  uint64
	Hash string // hex SHA-256 chain hash of entry Seq
	Time time.Time
}

// OpenHead checks a published head document against the public key.
func OpenHead(doc []byte, pub ed25519.PublicKey) (*PublishedHead, error) {
	var h storeHead
	if _, err := openDoc(doc, pub, domainHead, &h); err != nil {
		return nil, fmt.Errorf("collector: published head does not verify with the public key: %w", err)
	}
	return &PublishedHead{Seq: h.Seq, Hash: h.Hash, Time: h.Time}, nil
}
