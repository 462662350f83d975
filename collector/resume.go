package collector

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// ReadResumeRevision reads the etcd revision the collector stored lifecycle
// events up to. A missing file is revision 0 (start from the beginning);
// a file that cannot be read or does not hold a revision is an error, not
// 0, so a damaged file is not silently taken as "replay everything".
func ReadResumeRevision(path string) (int64, error) {
	b, err := durable.ReadRegular(path) // a FIFO planted here is refused, not waited on
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("collector: cannot read resume revision %q: %w", path, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("collector: resume revision file %q holds %q, not a revision; delete it to replay every event (stored ones are skipped)", path, truncate(string(b), 32))
	}
	return n, nil
}

// WriteResumeRevision records rev durably: a temporary file, fsync, rename
// over path, fsync of the directory, so a crash leaves the old revision or
// the new one, never a torn or empty file (issue 13 item 4).
func WriteResumeRevision(path string, rev int64) error {
	return durable.WriteFile(filepath.Dir(path), filepath.Base(path), []byte(strconv.FormatInt(rev, 10)+"\n"))
}

// witnessFileMax caps the confirmed-witness file: keys of the events
// directory and their revisions.
const witnessFileMax = 64 << 10

// WitnessPath is where the collector keeps the lifecycle events the next
// check of etcd's history reads (etcdadmin.Witnesses: Confirmed, the last
// event a check found etcd's history to hold or the last one stored when
// it did, and First, the first event stored since), beside the resume
// revision file revFile: events.witness for events.rev.
func WitnessPath(revFile string) string {
	return strings.TrimSuffix(revFile, ".rev") + ".witness"
}

// witnessFile is the JSON of the witness file: the confirmed witness, and
// the first event stored since it (absent: none, and in a file written
// before it was kept).
type witnessFile struct {
	Key      string       `json:"key"`
	Revision int64        `json:"revision"`
	First    *witnessFile `json:"first,omitempty"` // its own First is never written
	Auth     *authFile    `json:"auth,omitempty"`  // absent: nothing proven
	// Through is the newest etcd revision of an event the store held, or
	// was about to store, when the file was written (absent in a file
	// written before it was kept): a start whose store holds a later one
	// reads the file as an older copy put back (trustedWitnesses).
	Through int64 `json:"stored_through,omitempty"`
	// Rewound is the chain position (seq) of the entry holding the last
	// events.rewind the store held when the file was written (absent:
	// none, or a file written before it was kept): a start whose store
	// holds a later one reads the file as a copy from before etcd was
	// restored, put back (trustedWitnesses). Through alone did not tell:
	// it comes down with the rewind, and a copy from before the restore
	// was trusted until the store passed its revision
	// (TestWitnessCopyFromBeforeARestoreIsNotTrusted).
	Rewound uint64 `json:"rewound_at_seq,omitempty"`
}

// witnessPos is where the store stood when a witness file was written:
// its newest event's etcd revision (witnessFile.Through) and the seq of
// its last events.rewind (witnessFile.Rewound).
type witnessPos struct {
	through int64
	rewound uint64
}

// authFile is the JSON of an etcdadmin.AuthMark in the witness file.
type authFile struct {
	Revision uint64 `json:"auth_revision"`
	After    int64  `json:"on_after_revision"`
}

// domainWitness is the signature domain of the witness file: a witness
// cannot pass for a head or a digest, nor they for it.
const domainWitness = "portcullis-events-witness-v1\n"

// ErrWitnessNotTrusted says the witness file holds no witness the store's
// key signed, but one read as none (the zero Witnesses), as a missing
// file is: an unsigned file, which collectors before the witness was
// signed wrote, or one signed by a key the store rotated away from. The
// follower reports it and goes on, checking etcd's history against the
// last event stored (docs/etcd.md, "The witness file").
var ErrWitnessNotTrusted = errors.New("collector: the events witness file is not trusted")

// ReadConfirmedWitness reads the witness WriteConfirmedWitness recorded,
// as ReadWitnesses does.
func ReadConfirmedWitness(path string, pub ed25519.PublicKey) (etcdadmin.Witness, error) {
	ws, err := ReadWitnesses(path, pub)
	return ws.Confirmed, err
}

// ReadWitnesses reads the witnesses WriteWitnesses recorded (Last zero)
// and checks that pub, the store's signing key, signed them: anyone who
// can write the collector's directory could otherwise set what the
// follower takes as proven of etcd's history and of its authentication
// (Witnesses.Auth). A missing file is the zero Witnesses (none yet: the
// check falls back to the last event stored); an unsigned file is the
// zero Witnesses and an error wrapping ErrWitnessNotTrusted; a file that
// cannot be read or parsed, or whose signature does not verify, is an
// error, as for the resume revision.
func ReadWitnesses(path string, pub ed25519.PublicKey) (etcdadmin.Witnesses, error) {
	ws, _, err := readWitnesses(path, pub, nil)
	return ws, err
}

// readWitnesses is ReadWitnesses that reads a file signed by one of the
// store's older keys as it reads an unsigned one: not trusted, reported.
// It returns where the store stood when the file was written too.
func readWitnesses(path string, pub ed25519.PublicKey, older []ed25519.PublicKey) (etcdadmin.Witnesses, witnessPos, error) {
	b, err := durable.ReadRegularMax(path, witnessFileMax)
	if errors.Is(err, os.ErrNotExist) {
		return etcdadmin.Witnesses{}, witnessPos{}, nil
	}
	if err != nil {
		return etcdadmin.Witnesses{}, witnessPos{}, fmt.Errorf("collector: cannot read the confirmed witness %q: %w", path, err)
	}
	var d signedDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return etcdadmin.Witnesses{}, witnessPos{}, damagedWitness(path, b)
	}
	if d.Payload == nil && d.Signature == "" {
		ws, err := unsignedWitness(path, b)
		return ws, witnessPos{}, err
	}
	var w witnessFile
	switch _, err := openDoc(b, pub, domainWitness, &w); {
	case errors.Is(err, errBadSignature):
		ws, err := witnessOfOlderKey(path, b, older)
		return ws, witnessPos{}, err
	case err != nil || !w.valid():
		return etcdadmin.Witnesses{}, witnessPos{}, damagedWitness(path, b)
	}
	return w.witnesses(), witnessPos{w.Through, w.Rewound}, nil
}

// unsignedWitness answers for a witness file in the form collectors
// wrote before they signed it: not trusted, or damaged.
func unsignedWitness(path string, b []byte) (etcdadmin.Witnesses, error) {
	var w witnessFile
	if err := json.Unmarshal(b, &w); err != nil || !w.valid() {
		return etcdadmin.Witnesses{}, damagedWitness(path, b)
	}
	return etcdadmin.Witnesses{}, fmt.Errorf("%w: %q is not signed (a collector before witnesses were signed wrote it, or it was put there by hand): read as none, so the next check reads the last event stored and events under events-by/ written while the collector was down are stored with their etcd users unproven", ErrWitnessNotTrusted, path)
}

// witnessOfOlderKey answers for a witness file whose signature the
// store's key does not verify: one of the store's older keys signed it
// (written before a key rotation: not trusted, reported), or none did.
func witnessOfOlderKey(path string, b []byte, older []ed25519.PublicKey) (etcdadmin.Witnesses, error) {
	for _, pub := range older {
		var w witnessFile
		if _, err := openDoc(b, pub, domainWitness, &w); err == nil {
			return etcdadmin.Witnesses{}, fmt.Errorf("%w: %q is signed by a key the store rotated away from: read as none, as a missing file is", ErrWitnessNotTrusted, path)
		}
	}
	return etcdadmin.Witnesses{}, fmt.Errorf("collector: confirmed witness file %q is not signed by the store's key (its signature does not verify): not trusted; delete it to check the last event stored instead", path)
}

// damagedWitness is the error for a witness file that holds no witness.
func damagedWitness(path string, b []byte) error {
	return fmt.Errorf("collector: confirmed witness file %q holds %q, not a key and a revision; delete it to check the last event stored instead", path, truncate(string(b), 32))
}

// valid reports whether w holds well-formed witnesses.
func (w *witnessFile) valid() bool {
	bad := func(key string, rev int64) bool { return rev < 0 || (rev > 0) != (key != "") }
	return !bad(w.Key, w.Revision) && (w.First == nil || !bad(w.First.Key, w.First.Revision)) && (w.Auth == nil || w.Auth.After >= 0) && w.Through >= 0
}

// witnesses returns the etcdadmin.Witnesses w holds (Last zero).
func (w *witnessFile) witnesses() etcdadmin.Witnesses {
	ws := etcdadmin.Witnesses{Confirmed: etcdadmin.Witness{Key: w.Key, Revision: w.Revision}}
	if w.First != nil {
		ws.First = etcdadmin.Witness{Key: w.First.Key, Revision: w.First.Revision}
	}
	if w.Auth != nil {
		ws.Auth = etcdadmin.AuthMark{Revision: w.Auth.Revision, After: w.Auth.After}
	}
	return ws
}

// WriteConfirmedWitness records w signed by key, as WriteWitnesses does.
func WriteConfirmedWitness(path string, key ed25519.PrivateKey, w etcdadmin.Witness) error {
	return WriteWitnesses(path, key, etcdadmin.Witnesses{Confirmed: w})
}

// WriteWitnesses records the Confirmed and First witnesses of ws and its
// Auth mark (what the follower proved of etcd's authentication), signed
// by key, the store's signing key, durably, as WriteResumeRevision does.
func WriteWitnesses(path string, key ed25519.PrivateKey, ws etcdadmin.Witnesses) error {
	return writeWitnessesThrough(path, key, ws, witnessPos{})
}

// writeWitnessesThrough is WriteWitnesses that records where the store
// stands: the newest etcd revision of an event it holds or is about to
// store (witnessFile.Through) and the seq of its last events.rewind
// (witnessFile.Rewound).
func writeWitnessesThrough(path string, key ed25519.PrivateKey, ws etcdadmin.Witnesses, pos witnessPos) error {
	w := witnessFile{Key: ws.Confirmed.Key, Revision: ws.Confirmed.Revision, Through: pos.through, Rewound: pos.rewound}
	if ws.First.Revision > 0 {
		w.First = &witnessFile{Key: ws.First.Key, Revision: ws.First.Revision}
	}
	if ws.Auth.Revision != 0 {
		w.Auth = &authFile{Revision: ws.Auth.Revision, After: ws.Auth.After}
	}
	doc, _, err := signDoc(key, domainWitness, w)
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Dir(path), filepath.Base(path), doc)
}

// witnessKeys returns the key the store signs with, which signs the
// witness file, and the store's older keys, which signed none it trusts.
func (s *Store) witnessKeys() (ed25519.PrivateKey, []ed25519.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.cfg.SigningKey.Public().(ed25519.PublicKey)
	var older []ed25519.PublicKey
	for _, k := range s.keys.keys {
		if !k.Equal(cur) {
			older = append(older, k)
		}
	}
	return s.cfg.SigningKey, older
}
