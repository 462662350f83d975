// Package examples carries the example policy, examples/policy.yaml, so
// that `portcullis dev` runs from any directory.
package examples

import _ "embed"

// Policy is examples/policy.yaml: a complete policy with demo-only keys
// whose secrets the README publishes.
//
//go:embed policy.yaml
var Policy []byte
