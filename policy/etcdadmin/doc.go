// Package etcdadmin is the library behind the CLI's etcd commands
// (`portcullis policy push`, `keys create`, `clients suspend`, `events
// list`, ...) and the collector's event follower: everything that writes
// the policy state of a deployment in etcd, and the operator's views of
// it. The sidecar reads that state with package etcdsync, which also
// defines the key layout and the records both packages share.
//
// Every change is validated first (policy.Load and policy.Compile against
// the live state, as the sidecars will compile it) and written together
// with its lifecycle event in one etcd transaction, so the audit trail can
// never miss a change nor record one that did not happen. A change whose
// optimistic transaction loses a race with another writer is retried a
// few times, then fails with ErrConflict.
//
// # Concurrency
//
// Admin methods are safe for concurrent use. An Admin does not own its
// etcd client; close the client when done.
package etcdadmin
