// Package policy is the model of a Portcullis policy: the strict YAML
// document (tenants, clients, scopes, endpoint classes, routes, OAuth
// issuers, audit settings, API key records), its validation, and its
// compilation into an immutable Snapshot that the data plane reads.
//
// # Use
//
//	doc, err := policy.LoadFile("policy.yaml") // unknown fields, duplicates and
//	                                           // dangling references are errors
//	                                           // with line numbers (*Error, ErrInvalid)
//	snap, err := policy.Compile(doc, policy.Live{Revision: rev})
//	store.Swap(snap)                           // a policy.Store serves snap to readers
//	route := snap.Match(method, normalisedPath)
//
// Live carries what changes without rewriting the document (key records
// kept apart from it, revoked keys and tokens, suspended clients), so that
// key lifecycle operations never edit the policy itself.
//
// # Concurrency and lifetimes
//
// A Snapshot is immutable once Compile returns it and safe for concurrent
// use; everything the hot path needs is pre-indexed (route trees, scope
// bitmasks, keys by id, limiter keys). A Store publishes snapshots through
// an atomic pointer: readers load it once per request and never block; a
// writer compiles a whole new snapshot and swaps it, and a snapshot that
// failed to compile is counted (Store.Fail), never installed. Match and
// the accessors do not allocate.
package policy
