package etcdsync

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// UseRetention is how long the use counter of a grant outlives it: its
// uses lease is MaxAge plus this, so that a collector down for up to that
// long still finds the counter and records its approval.use events.
const UseRetention = 7 * 24 * time.Hour

// ApprovalUse is a value of the use counter at approval-uses/<id>: the
// record of one use of the approval id. The operator creates the counter
// in the grant's own transaction (version 1, an empty ApprovalUse); use n
// puts version n+1, in a transaction that requires the grant record
// unchanged, the counter's create revision the grant's and its version
// the one read (UseWrite), so each use number is taken once across the
// deployment, a grant denied or changed meanwhile admits nothing, and a
// counter deleted or re-created (the sidecar's etcd role can) admits
// nothing more. The sidecar that admitted the request writes it (Ledger),
// or the CLI for an operation (keys create --approval), which also writes
// the use's event under events/ (or events-by/<user>/) in the same transaction and names its key
// in Event. Every field is the writer's word: a sidecar's etcd user can
// write any of them, so the collector takes none as proof (etcdadmin
// readUse). Nothing in it is secret.
type ApprovalUse struct {
	Client    string    `json:"client"`
	Route     string    `json:"route"`
	RequestID string    `json:"request_id,omitempty"` // the admitted request's id, as in its audit record
	Sidecar   string    `json:"sidecar,omitempty"`    // the pod whose sidecar admitted the request
	Actor     string    `json:"actor,omitempty"`      // who spent the use with the CLI (a claim; the event under Event says it)
	EtcdUser  string    `json:"etcd_user,omitempty"`  // the etcd user the CLI wrote it as (a claim, as Actor)
	Event     string    `json:"event,omitempty"`      // the CLI's approval.use event key, written in the same transaction
	Time      time.Time `json:"time"`
}

// Counter is the use counter of a grant as read from etcd: its create
// revision and version, both zero when it does not exist.
type Counter struct {
	Create  int64
	Version int64
}

// CounterOf returns the counter kv, or the zero Counter for nil.
func CounterOf(kv *mvccpb.KeyValue) Counter {
	if kv == nil {
		return Counter{}
	}
	return Counter{Create: kv.CreateRevision, Version: kv.Version}
}

// DecodeApprovalUse decodes a use record.
func DecodeApprovalUse(b []byte) (ApprovalUse, error) {
	var u ApprovalUse
	if err := json.Unmarshal(b, &u); err != nil {
		return ApprovalUse{}, fmt.Errorf("cannot decode approval use record: %w", err)
	}
	return u, nil
}

// errNoUse refuses a use UseWrite cannot write.
var errNoUse = errors.New("no use left on the counter")

// UseWrite returns the comparisons and the write of the next use of a,
// whose record is at mod revision rev and whose counter is c (a.Uses
// counted by Count): the record must be unchanged, the counter the one
// created with the grant and at the version read. The put keeps the
// counter on its lease (the grant's uses lease). It fails when a counts
// no uses on a counter or has none left.
func UseWrite(k Layout, a *Approval, rev int64, c Counter, u ApprovalUse) ([]clientv3.Cmp, clientv3.Op, error) {
	if !a.UsesCounter || c.Create != a.usesRev(rev) || c.Version < 1 || a.Uses >= a.MaxUses {
		return nil, clientv3.Op{}, fmt.Errorf("approval %q: %w", a.ID, errNoUse)
	}
	v, err := json.Marshal(u)
	if err != nil {
		return nil, clientv3.Op{}, fmt.Errorf("cannot encode a use of approval %q: %w", a.ID, err)
	}
	key := k.ApprovalCounter(a.ID)
	cmps := []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(k.Approval(a.ID)), "=", rev),
		clientv3.Compare(clientv3.CreateRevision(key), "=", c.Create),
		clientv3.Compare(clientv3.Version(key), "=", c.Version),
	}
	return cmps, clientv3.OpPut(key, string(v), clientv3.WithIgnoreLease()), nil
}
