// Package limiter is the rate-limit engine of the sidecar: exact token
// buckets in a bounded, sharded table, and per-key concurrency caps.
package limiter
