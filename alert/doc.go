// Package alert is the collector's abuse detection and alert lifecycle
// (issue 14): detection rules from the policy document evaluated with
// sliding windows on every stored record and lifecycle event, alerts that
// group a sustained attack into one growing alert, and the lifecycle
// (open -> ticketed -> acknowledged -> contained -> closed) kept as
// lifecycle events in the tamper-evident trail.
//
// An Engine is fed by the collector through one hook, Engine.Observe, with
// the records of each stored batch and each stored group of events. What
// it decides (an alert opened, its count grown) it writes back to the
// trail through Config.Append as events whose Action starts with "alert.";
// those come back through Observe and are idempotent. Its state is never
// kept anywhere else: Engine.Replay rebuilds the windows and the alerts
// from the stored trail when the collector starts, without firing again.
//
// Time in the engine is the time of the records and events it is fed, so
// that replay and tests with a simulated clock see what the live stream
// saw. An Engine is safe for concurrent use.
package alert
