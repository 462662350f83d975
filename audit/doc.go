// Package audit records what the sidecar decided for every request and
// keeps those records where nobody can quietly change them.
//
// # Record
//
// A Record is a fixed-size value: request-derived text is copied into
// arrays and the string fields point at immutable policy data, so filling
// one and handing it to a sink never allocates. It never holds a key,
// token, secret, cookie, query string or body. Record.AppendJSON encodes
// one as a JSON object with a fixed set of snake_case fields.
//
// # Sinks
//
// FileWriter writes JSON lines to a local file. Sinks share one contract:
// Emit copies *r into a preallocated slot (it keeps no pointer, never
// blocks, never allocates) and returns false when the record could not be
// captured; Accepting reports with atomic loads whether a record emitted
// now would be captured; Close flushes everything captured, then releases
// the sink. Emit and Accepting are safe from any number of goroutines.
package audit
