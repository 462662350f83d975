package policy

import (
	"strings"
	"testing"
)

// public_routes.max_in_flight caps the requests of public routes in
// flight on a sidecar (the data plane's limitPublic); a value that is not
// a count from 1 to MaxPublicInFlight is an error naming it, never read
// as "no cap" or as the default. Without the block the snapshot says 0:
// the data plane's default, a quarter of its upstream connections.
func TestPublicRoutesMaxInFlight(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, yaml, want string
	}{
		{"zero", "public_routes: {max_in_flight: 0}", `p.yaml:30: public_routes: max_in_flight 0 must be from 1 to 1048576`},
		{"negative", "public_routes:\n  max_in_flight: -5", `p.yaml:31: public_routes: max_in_flight -5 must be from 1 to 1048576`},
		{"too many", "public_routes: {max_in_flight: 2000000}", `p.yaml:30: public_routes: max_in_flight 2000000 must be from 1 to 1048576`},
		{"empty block", "public_routes: {}", `p.yaml:30: public_routes: max_in_flight 0 must be from 1 to 1048576`},
		{"not a number", "public_routes: {max_in_flight: many}", `p.yaml:30: cannot unmarshal !!str ` + "`many`" + ` into int`},
		{"unknown field", "public_routes: {max: 5}", `p.yaml:30: field max not found in PublicSpec`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load("p.yaml", []byte(with(0, tt.yaml)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load with %q: %v, want an error with %q", tt.yaml, err, tt.want)
			}
		})
	}
	compiled := func(yaml string) int {
		t.Helper()
		doc, err := Load("p.yaml", []byte(with(0, yaml)))
		if err != nil {
			t.Fatal(err)
		}
		snap, err := Compile(doc, Live{})
		if err != nil {
			t.Fatal(err)
		}
		return snap.PublicInFlight
	}
	if got := compiled("public_routes: {max_in_flight: 64}"); got != 64 {
		t.Errorf("PublicInFlight = %d, want 64", got)
	}
	if got := compiled(""); got != 0 {
		t.Errorf("PublicInFlight without public_routes = %d, want 0 (the data plane's default)", got)
	}
}
