package collector

import (
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
}

// authFile is the JSON of an etcdadmin.AuthMark in the witness file.
type authFile struct {
	Revision uint64 `json:"auth_revision"`
	After    int64  `json:"on_after_revision"`
}

// ReadConfirmedWitness reads the witness WriteConfirmedWitness recorded.
// A missing file is the zero Witness (none yet: the check falls back to
// the last event stored); a file that cannot be read or parsed is an
// error, as for the resume revision.
func ReadConfirmedWitness(path string) (etcdadmin.Witness, error) {
	ws, err := ReadWitnesses(path)
	return ws.Confirmed, err
}

// ReadWitnesses reads the witnesses WriteWitnesses recorded (Last zero),
// as ReadConfirmedWitness does.
func ReadWitnesses(path string) (etcdadmin.Witnesses, error) {
	b, err := durable.ReadRegularMax(path, witnessFileMax)
	if errors.Is(err, os.ErrNotExist) {
		return etcdadmin.Witnesses{}, nil
	}
	if err != nil {
		return etcdadmin.Witnesses{}, fmt.Errorf("collector: cannot read the confirmed witness %q: %w", path, err)
	}
	var w witnessFile
	bad := func(key string, rev int64) bool { return rev < 0 || (rev > 0) != (key != "") }
	if err := json.Unmarshal(b, &w); err != nil || bad(w.Key, w.Revision) || w.First != nil && bad(w.First.Key, w.First.Revision) || w.Auth != nil && w.Auth.After < 0 {
		return etcdadmin.Witnesses{}, fmt.Errorf("collector: confirmed witness file %q holds %q, not a key and a revision; delete it to check the last event stored instead", path, truncate(string(b), 32))
	}
	ws := etcdadmin.Witnesses{Confirmed: etcdadmin.Witness{Key: w.Key, Revision: w.Revision}}
	if w.First != nil {
		ws.First = etcdadmin.Witness{Key: w.First.Key, Revision: w.First.Revision}
	}
	if w.Auth != nil {
		ws.Auth = etcdadmin.AuthMark{Revision: w.Auth.Revision, After: w.Auth.After}
	}
	return ws, nil
}

// WriteConfirmedWitness records w durably, as WriteResumeRevision does.
func WriteConfirmedWitness(path string, w etcdadmin.Witness) error {
	return WriteWitnesses(path, etcdadmin.Witnesses{Confirmed: w})
}

// WriteWitnesses records the Confirmed and First witnesses of ws and its
// Auth mark (what the follower proved of etcd's authentication) durably,
// as WriteResumeRevision does.
func WriteWitnesses(path string, ws etcdadmin.Witnesses) error {
	w := witnessFile{Key: ws.Confirmed.Key, Revision: ws.Confirmed.Revision}
	if ws.First.Revision > 0 {
		w.First = &witnessFile{Key: ws.First.Key, Revision: ws.First.Revision}
	}
	if ws.Auth.Revision != 0 {
		w.Auth = &authFile{Revision: ws.Auth.Revision, After: ws.Auth.After}
	}
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return durable.WriteFile(filepath.Dir(path), filepath.Base(path), append(b, '\n'))
}
