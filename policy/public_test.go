package policy

import "testing"

// public_routes.max_in_flight caps the requests of public routes in
// flight on a sidecar (the data plane's limitPublic); a value that is not
// a count from 1 to MaxPublicInFlight is an error naming it, never read
// as "no cap" or as the default. Without the block the snapshot says 0:
// the data plane's default, a quarter of its upstream connections.
func TestPublicRoutesMaxInFlight(t *testing.T) {
	t.Parallel()
	checkCountSetting(t, []countCase{
		{"zero", "public_routes: {max_in_flight: 0}", `p.yaml:30: public_routes: max_in_flight 0 must be from 1 to 1048576`},
		{"negative", "public_routes:\n  max_in_flight: -5", `p.yaml:31: public_routes: max_in_flight -5 must be from 1 to 1048576`},
		{"too many", "public_routes: {max_in_flight: 2000000}", `p.yaml:30: public_routes: max_in_flight 2000000 must be from 1 to 1048576`},
		{"empty block", "public_routes: {}", `p.yaml:30: public_routes: max_in_flight 0 must be from 1 to 1048576`},
		{"not a number", "public_routes: {max_in_flight: many}", `p.yaml:30: max_in_flight: want an integer, got "many"`},
		{"unknown field", "public_routes: {max: 5}", `p.yaml:30: field max not found in PublicSpec`},
	}, "public_routes: {max_in_flight: 64}", 64, 0, func(s *Snapshot) int { return s.PublicInFlight }) // 0: the data plane's default
}
