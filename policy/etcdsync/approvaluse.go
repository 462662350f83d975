package etcdsync

import (
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// UseRetention is how long the use keys of a grant outlive it: its uses
// lease is MaxAge plus this, so that a collector down for up to that long
// still finds every use key and records its approval.use event.
const UseRetention = 7 * 24 * time.Hour

// ApprovalUse is the record at approval-uses/<id>/<n>: use n of the
// approval id. The sidecar that admitted the request creates it (Ledger),
// or the CLI for an operation (keys create --approval), in a transaction
// that requires the key to be new and the approval record unchanged, so
// each use number is taken once across the deployment and a grant denied
// or changed meanwhile admits nothing. The collector's follower turns it
// into an approval.use event. Nothing in it is secret.
type ApprovalUse struct {
	Client    string    `json:"client"`
	Route     string    `json:"route"`
	RequestID string    `json:"request_id,omitempty"` // the admitted request's id, as in its audit record
	Sidecar   string    `json:"sidecar,omitempty"`    // the pod whose sidecar admitted the request
	Actor     string    `json:"actor,omitempty"`      // who spent the use with the CLI
	EtcdUser  string    `json:"etcd_user,omitempty"`  // the etcd user the CLI wrote it as
	Time      time.Time `json:"time"`
}

// DecodeApprovalUse decodes a use record.
func DecodeApprovalUse(b []byte) (ApprovalUse, error) {
	var u ApprovalUse
	if err := json.Unmarshal(b, &u); err != nil {
		return ApprovalUse{}, fmt.Errorf("cannot decode approval use record: %w", err)
	}
	return u, nil
}

// UseWrite returns the comparisons and the write of use n of a, whose
// record is at mod revision rev: the use key must not exist and the record
// must be unchanged. The use key goes on a's uses lease when it has one.
func UseWrite(k Layout, a *Approval, rev int64, n int, u ApprovalUse) ([]clientv3.Cmp, clientv3.Op, error) {
	v, err := json.Marshal(u)
	if err != nil {
		return nil, clientv3.Op{}, fmt.Errorf("cannot encode use %d of approval %q: %w", n, a.ID, err)
	}
	key := k.ApprovalUse(a.ID, n)
	var opts []clientv3.OpOption
	if a.UsesLease != 0 {
		opts = append(opts, clientv3.WithLease(clientv3.LeaseID(a.UsesLease)))
	}
	cmps := []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(k.Approval(a.ID)), "=", rev),
		clientv3.Compare(clientv3.CreateRevision(key), "=", 0),
	}
	return cmps, clientv3.OpPut(key, string(v), opts...), nil
}

// UsesTaken returns the use numbers of approval id among kvs (keys under
// k.ApprovalUses(id); other keys are skipped).
func UsesTaken(k Layout, id string, kvs []*mvccpb.KeyValue) []int {
	taken := make([]int, 0, len(kvs))
	for _, kv := range kvs {
		if got, n, ok := k.ParseApprovalUse(string(kv.Key)); ok && got == id {
			taken = append(taken, n)
		}
	}
	return taken
}
