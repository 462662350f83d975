package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
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
	// headHistory reads etcd's history of the audit head; nil reads it
	// from --etcd (etcdHeadPuts). A test sets it to fail after the head
	// there now was read, which no real etcd does on demand.
	headHistory func() ([]etcdadmin.HeadPut, error)
}

func (a *anchorFlags) register(fs *flag.FlagSet) {
	a.etcd.register(fs)
	a.registerHeads(fs)
	a.registerTolerances(fs)
}

// registerTolerances registers what verify may accept (--allow-unsigned-tail,
// --allow-empty).
func (a *anchorFlags) registerTolerances(fs *flag.FlagSet) {
	fs.DurationVar(&a.allowTail, "allow-unsigned-tail", 0, "accept entries after the signed head younger than this (e.g. 2m) and dated between the signed head and now; 0 accepts none")
	fs.BoolVar(&a.allowEmpty, "allow-empty", false, "accept a store with no entries")
}

// registerHeads registers the flags of the heads kept outside the store
// (--published-head, --expect-head); evidence pack has them too, its
// --etcd being registered with its other etcd flags.
func (a *anchorFlags) registerHeads(fs *flag.FlagSet) {
	fs.StringVar(&a.headFile, "published-head", "", "signed head `file` the collector publishes (--publish-head); a store behind it fails")
	fs.Func("expect-head", "hex `hash` of a signed head kept earlier; a store without that entry fails", func(v string) error {
		// A mistyped or cut hash would find no entry and report the store
		// as rolled back: refuse it as a usage error instead.
		h := strings.ToLower(v)
		if _, err := hex.DecodeString(h); err != nil || len(h) != 64 {
			return errors.New("want the 64 hex digits of a signed head's hash, as audit verify prints it")
		}
		a.expectHead = h
		return nil
	})
}

// options reads the published heads and builds the verify options. With
// --etcd, no head published there is an error.
func (a *anchorFlags) options(dir string, pub ed25519.PublicKey) (collector.VerifyOptions, error) {
	opts := collector.VerifyOptions{AllowUnsignedTail: a.allowTail, AllowEmpty: a.allowEmpty, ExpectHead: a.expectHead}
	read, err := a.readHeads(dir, pub, true)
	opts.Published, opts.OtherPublished = newestHead(read.heads)
	opts.AnchorProblems, opts.AnchorUnchecked, opts.AnchorUncounted = read.problems, read.unchecked, read.uncounted
	return opts, err
}

// readAnchors is what readHeads read of the anchors.
type readAnchors struct {
	heads []publishedHead
	// missing names each anchor with no head (evidence pack's etcd), and
	// absent the counted ones among them (collector.VerifyOptions.AnchorAbsent).
	missing, absent []string
	// problems are the heads found put back, and the checks that could
	// not be made (collector.VerifyOptions.AnchorProblems).
	problems []collector.Problem
	// unchecked says what a head could not be checked for
	// (collector.VerifyOptions.AnchorUnchecked), and uncounted names the
	// counted anchors whose head carries no count, with what that leaves
	// unchecked (collector.VerifyOptions.AnchorUncounted): only the
	// verifier knows whether the store records counted heads, which
	// makes it a rollback instead.
	unchecked []string
	uncounted []collector.UncountedHead
}

// publishedHead is a head read back from where the collector published
// it, opened with its key.
type publishedHead struct {
	from string // where it was read, for a person
	head *collector.PublishedHead
}

// readHeads reads and opens the heads of --published-head and, with
// --etcd, <prefix>/audit/head. With requireEtcd no head in etcd is an
// error (audit verify); without it, it is returned in missing (evidence
// pack, whose --etcd is also where the policy is read). A head is
// checked against the key of the store in dir at the entry it names (the
// key before a rotation for an entry before it); a store whose rotations
// do not verify has its heads checked against pub alone (its verify
// reports the rotation).
func (a *anchorFlags) readHeads(dir string, pub ed25519.PublicKey, requireEtcd bool) (r readAnchors, err error) {
	openHead := func(doc []byte) (*collector.PublishedHead, error) { return collector.OpenHead(doc, pub) }
	if keys, err := collector.LoadKeys(dir, pub); err == nil {
		openHead = keys.OpenHead
	}
	open := func(from string, doc []byte) error {
		h, err := openHead(doc)
		if err != nil {
			return fmt.Errorf("%s: %w", from, err)
		}
		r.heads = append(r.heads, publishedHead{from: fmt.Sprintf("%s (seq %d)", from, h.Seq), head: h})
		return nil
	}
	if a.headFile != "" {
		if inDirectory(filepath.Dir(a.headFile), dir) {
			// The store's own head.json, or a copy beside it, is the
			// store's adversary's to write with it: checked against it, a
			// store cut back read as intact (TestPublishedHeadInsideTheStoreRefused).
			return readAnchors{}, fmt.Errorf("--published-head %s is in the store's directory %s, which whoever can cut the store writes too: give the head the collector published outside it (its --publish-head)", a.headFile, dir)
		}
		// A FIFO there is refused, not waited on; a head is under 1 KiB,
		// and a larger file is not read whole.
		doc, err := durable.ReadRegularMax(a.headFile, collector.MaxKeyFileBytes)
		if err != nil {
			return readAnchors{}, fmt.Errorf("cannot read --published-head %q: %w", a.headFile, err)
		}
		if err := open("--published-head "+a.headFile, doc); err != nil {
			return readAnchors{}, err
		}
	}
	if a.etcd.endpoints != "" {
		key := etcdsync.NewLayout(a.etcd.prefix).AuditHead()
		doc, count, err := a.etcdHead()
		switch {
		case err != nil && !requireEtcd && errors.Is(err, etcdadmin.ErrNotFound):
			r.missing = append(r.missing, fmt.Sprintf("etcd holds no head at %s (a collector started with --etcd and this --prefix publishes one)", key))
			r.absent = append(r.absent, "etcd "+key)
		case err != nil:
			return readAnchors{}, err
		default:
			if err := open("etcd "+key, doc); err != nil {
				return readAnchors{}, err
			}
			cur := r.heads[len(r.heads)-1].head
			r.checkCount("etcd "+key, cur, count)
			if err := r.etcdNewestPut(a, key, cur, openHead); err != nil {
				r.problems = append(r.problems, collector.Problem{Entry: -1, What: collector.ProblemUnchecked, Detail: err.Error()})
			}
		}
	}
	return r, nil
}

// checkCount compares cur, the head read at where, with its etcd key's
// count (collector.CheckCount).
func (r *readAnchors) checkCount(where string, cur *collector.PublishedHead, count etcdadmin.HeadCount) {
	problem, unchecked := collector.CheckCount(where, cur, count)
	if problem != nil {
		r.problems = append(r.problems, *problem)
	}
	if unchecked != "" {
		r.uncounted = append(r.uncounted, collector.UncountedHead{Where: where, Unchecked: unchecked})
	}
}

// etcdNewestPut adds to r the newest head etcd's history of key holds
// after cur, the head there now (collector.NewestPut, the rule the
// collector's start checks with too): cur is then an older head put back.
// A store rolled back together with the head there now (an older head
// put back by hand, which etcd's history keeps) agreed with it, and the
// proof said OK (TestPackChecksEveryHeadEtcdKept). A history that cannot
// be read is an error naming what it leaves unchecked: the check passed
// in silence (TestVerifyHeadHistoryUnreadableIsNotOK).
func (r *readAnchors) etcdNewestPut(a *anchorFlags, key string, cur *collector.PublishedHead, openHead func([]byte) (*collector.PublishedHead, error)) error {
	read := a.headHistory
	if read == nil {
		read = a.etcdHeadPuts
	}
	puts, err := read()
	if err != nil {
		return fmt.Errorf("cannot read etcd's history of %s (%w): a newer head put there before the head there now (seq %d), which the store must hold too, was not looked for", key, err, cur.Seq)
	}
	p, h := collector.NewestPut(cur, puts, openHead)
	if p != nil {
		r.heads = append(r.heads, publishedHead{from: fmt.Sprintf("etcd %s at revision %d, put there before the head there now (seq %d)", key, p.Revision, h.Seq), head: h})
	}
	return nil
}

// etcdHeadPuts reads the puts of the audit head etcd's history holds.
func (a *anchorFlags) etcdHeadPuts() ([]etcdadmin.HeadPut, error) {
	cli, err := dialEtcd(a.etcd)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return etcdadmin.New(cli, a.etcd.prefix).PublishedHeads(ctx)
}

// newestHead returns the head that names the latest entry (nil for none)
// and the others, which the store must hold too.
func newestHead(heads []publishedHead) (newest *collector.PublishedHead, others []*collector.PublishedHead) {
	for _, h := range heads {
		switch {
		case newest == nil:
			newest = h.head
		case h.head.Seq > newest.Seq:
			others, newest = append(others, newest), h.head
		default:
			others = append(others, h.head)
		}
	}
	return newest, others
}

// trailKey is what a reader of the collector's trail takes to verify what
// it prints, as audit query does: --public-key and the heads kept outside
// the host (the --etcd head only where --etcd is not the command's own).
type trailKey struct {
	file   string
	anchor anchorFlags
}

func (k *trailKey) register(fs *flag.FlagSet, etcdAnchor bool) {
	fs.StringVar(&k.file, "public-key", "", "`file` of the collector's Ed25519 public key (PEM): verify the store as audit verify does; without it everything read is flagged unverified")
	if etcdAnchor {
		k.anchor.register(fs)
		return
	}
	k.anchor.registerHeads(fs)
	k.anchor.registerTolerances(fs)
}

// options loads the key and the heads; a nil key (no --public-key) means
// nothing is verified.
func (k *trailKey) options(dir string) (ed25519.PublicKey, collector.VerifyOptions, error) {
	if k.file == "" {
		return nil, collector.VerifyOptions{}, nil
	}
	pub, err := collector.LoadPublicKey(k.file)
	if err != nil {
		return nil, collector.VerifyOptions{}, err
	}
	opts, err := k.anchor.options(dir, pub)
	return pub, opts, err
}

// verifiedExit says on stderr what was verified of the trail a command
// read (what: "records", "events"), and returns its exit code: 1 when the
// store failed verification as a whole (rep nil: nothing was verified).
func verifiedExit(stderr io.Writer, name, what string, rep *collector.VerifyReport) int {
	switch {
	case rep == nil:
		fmt.Fprintf(stderr, "portcullis %s: %s not verified (no --public-key): each is flagged unverified\n", name, what)
	case !rep.OK():
		fmt.Fprintf(stderr, "portcullis %s: the store failed verification; %s of entries that failed their own checks are flagged unverified\n", name, what)
		printVerifyReport(stderr, rep, false)
		return 1
	}
	return 0
}

// etcdHead reads the head at <prefix>/audit/head and the key's count.
func (a *anchorFlags) etcdHead() ([]byte, etcdadmin.HeadCount, error) {
	cli, err := dialEtcd(a.etcd)
	if err != nil {
		return nil, etcdadmin.HeadCount{}, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin := etcdadmin.New(cli, a.etcd.prefix)
	doc, count, err := admin.CountedHead(ctx)
	if err == nil && doc == nil {
		err = fmt.Errorf("%w: no audit head published at %q", etcdadmin.ErrNotFound, etcdsync.NewLayout(a.etcd.prefix).AuditHead())
	}
	if err != nil {
		return nil, count, fmt.Errorf("%w (a collector started with --etcd publishes it; without one, drop --etcd)", err)
	}
	return doc, count, nil
}
