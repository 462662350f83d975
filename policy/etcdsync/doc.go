// Package etcdsync is the sidecar's side of the policy in etcd: it reads
// the policy state of a deployment and keeps a policy.Store current with
// it. It also defines what the other etcd users share: the key layout
// (Layout) and its records, the decoding of the state (State), and how to
// dial etcd (Dial). What the CLI writes lives in package etcdadmin, which
// the sidecar does not use; the etcd server that `portcullis dev` and the
// tests run lives in internal/devetcd (run by the portcullis-dev binary),
// so that the portcullis binary does not link it.
//
// Syncer is what each sidecar runs: it reads the whole state at one
// revision, compiles it and swaps it into a policy.Store, then watches from
// the next revision and applies every change: a new document is compiled,
// key records, revocations and suspensions are amended into the snapshot in
// force (policy.Amend), and the changes that arrive while one is applied
// go into the next snapshot together. A policy that does not
// compile is refused and the previous snapshot stays; it is the only record
// that can do so. An invalid key record is left out (it authenticates
// nothing), an invalid revocation still revokes and an invalid suspension
// still suspends; each is logged once at warn and counted
// (portcullis_policy_invalid_records), and the other records apply. Losing
// etcd is logged once at warn and its return once at info. A re-read or a
// confirmation that finds etcd below the revision applied, or another
// cluster id (restored from a backup, or replaced), is a lost watch: the state read is applied and
// watched from, counted and logged at warn. Each applied revision
// is saved to a last-known-good file so a sidecar can start serving while
// etcd is down; the file holds what is in force (never a refused
// document), and a save that fails is retried, counted and reported
// (LKGHealth). A Syncer with a pod name keeps a leased member record.
//
// Sharer makes the tenant limits global across the deployment's live
// sidecars (issue 17): it publishes this sidecar's demand and pushes this
// sidecar's share of each limit into the data plane; see its documentation.
//
// # Key layout
//
// All keys of one deployment live under one prefix (for example
// /portcullis/prod; the CLI default is /portcullis/default):
//
//	<prefix>/policy                         the policy YAML document, as pushed
//	<prefix>/policy-history/<rev>           every pushed document with who, why, ticket and digest (JSON)
//	<prefix>/keys/<id>                      API key record (JSON policy.KeySpec: SHA-256 only, never the secret)
//	<prefix>/revocations/<id>               revoked key id, or jti:<token id> (JSON: actor, reason, ticket, time; a token's may have expires)
//	<prefix>/suspensions/<client>           suspended client (JSON: reason, until), on a lease that lifts it
//	<prefix>/resumed/<client>               last resumption of the client (JSON Resumption), on the lease of the suspension it speaks for ending last
//	<prefix>/events/<unixnano>-<rand>       lifecycle event (JSON: time, actor, action, target, reason, ticket, details)
//	<prefix>/events-by/<user>/<unixnano>-<rand>  the same, written as etcd user <user> (path-escaped, Layout.EventsBy): the user is the key's, not the value's
//	<prefix>/members/<pod>                  leased sidecar record (JSON: pod, applied revision, policy digest, started)
//	<prefix>/approvals/<id>                 approval of a privileged request (JSON Approval); a grant sits on a lease of its max_age
//	<prefix>/approval-uses/<id>             use counter of a grant, created with it; one put per use (JSON ApprovalUse: client, route, request id, sidecar, time), on the grant's uses lease
//	<prefix>/approval-uses/<id>/slots/<n>   a use held for a request (n from 1 to max_uses; JSON ApprovalUse), on the holder's short lease; moved onto the grant's uses lease when spent (Hold)
//	<prefix>/demand/<pod>                   leased demand of a sidecar's busy tenants, requests/s (JSON: {"t":{...},"c":{...}}; see Sharer)
//	<prefix>/audit/head                     newest signed head of the audit store, published by the collector
//
// <rev> and <unixnano> are zero-padded to 20 digits so keys sort in time
// order. <rev> is the revision the push was expected to get; the record's
// etcd mod revision is authoritative (they differ only when something
// outside the prefix wrote to the same etcd during the push). Event
// actions are policy.push, key.create, key.rotate, key.revoke,
// token.revoke, client.suspend, client.resume, approval.request,
// approval.grant, approval.deny and approval.use. A sidecar writes no
// event: the use of an approval is a put of its counter, which the
// collector's follower (etcdadmin.FollowEvents) turns into the
// approval.use event, so
// the sidecars' etcd role needs write access to approval-uses/ only.
//
// # Concurrency
//
// Syncer methods are safe for concurrent use. A Syncer's Run is
// called by one goroutine at a time; it may be called again after it
// returns and then resumes watching from the revision already applied.
package etcdsync
