// Package alert is the collector's abuse detection and alert lifecycle
// (issue 14): detection rules from the policy document evaluated with
// sliding windows on every stored record and lifecycle event, alerts that
// group a sustained attack into one growing alert, and the lifecycle
// (open -> ticketed -> acknowledged -> contained -> closed) kept as
// lifecycle events in the tamper-evident trail.
//
// An Engine is fed by the collector's store through the hooks of
// Engine.Hooks: Detect runs the rules, under the store's lock and in
// storage order, on the records and events of each entry about to be
// written, and the alert events it returns (an alert opened, its count
// grown) are stored in that same signed entry; Commit tells it the entry
// was stored, and After, outside the store's lock, calls OnOpen and
// OnClose. Events the engine makes elsewhere (tickets, Alertmanager, a
// policy reload) go through Config.Append and come back through Detect,
// which applies them (an alert.open already applied changes nothing).
//
// The trail is the source of truth. Engine.Replay rebuilds the windows
// and the alerts from the whole stored trail, firing nothing: an alert
// event is applied at the record that fired it, so the state is the one
// the live engine had. Engine.WriteSnapshot keeps the state on disk,
// signed, with the chain position and entry hash it corresponds to, and
// Engine.Restore loads it and replays only the entries after it; a
// snapshot that does not match the trail is ignored.
//
// Time in the engine is the time of the records and events it is fed, so
// that replay and tests with a simulated clock see what the live stream
// saw. An Engine is safe for concurrent use.
package alert
