// Package interop runs Portcullis against real third-party implementations
// of the protocols it speaks, over loopback, so that a disagreement about
// the wire format shows up as a failing test rather than in production.
//
// It is a module of its own (see go.mod) so that the heavy dependencies of
// those implementations, such as the ory/fosite OAuth 2.0 server, never
// enter the main module's go.mod. The package has no non-test code; run
// it with
//
//	cd interop && go test -race -count=1 ./...
//
// Only implementations that the Go module proxy serves are used: zitadel/oidc
// and MicahParks/keyfunc are not available here, ory/fosite is.
package interop
