// Package examples carries the example policy, examples/policy.yaml, so
// that `portcullis dev` runs from any directory.
package examples

import _ "embed"

// Policy is examples/policy.yaml: a complete policy with demo-only keys
// whose secrets docs/policy.md publishes.
//
//go:embed policy.yaml
var Policy []byte

// DemoIssuerSeed is the base64url Ed25519 seed of the demo issuer of
// Policy (https://idp.demo.example, kid demo-1): the public key of that
// seed is the issuer's inline JWKS. make demo signs its OAuth step's token
// with it, and the tests that play that step do too. Demo only: anyone can
// sign tokens with it.
const DemoIssuerSeed = "tBQwRAqb0m-DX5PUmxir2ciMs_zBX9zK4bZiaZEyLHs"
