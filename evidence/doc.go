// Package evidence builds the evidence pack (issue 15): one folder and a
// zip of it, holding what the policy required, what was configured and
// what operated over a period, each file generated from the policy
// history, the collector's store and the alerts, with a manifest of their
// SHA-256 digests signed with Ed25519. It never imports dataplane
// (docs/ARCHITECTURE.md).
package evidence
