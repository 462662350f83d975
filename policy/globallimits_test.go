package policy

import (
	"strings"
	"testing"
)

// global_limits.max_sidecars bounds the members a global limit is shared
// among (etcdsync.ShareConfig.MaxMembers); a value that is not a count
// from 1 to MaxGlobalSidecars is an error naming it, never read as "no
// bound" or as the default. Without the block the snapshot holds
// DefaultGlobalMaxSidecars.
func TestGlobalLimitsMaxSidecars(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, yaml, want string
	}{
		{"zero", "global_limits: {max_sidecars: 0}", `p.yaml:30: global_limits: max_sidecars 0 must be from 1 to 1000`},
		{"negative", "global_limits:\n  max_sidecars: -3", `p.yaml:31: global_limits: max_sidecars -3 must be from 1 to 1000`},
		{"too many", "global_limits: {max_sidecars: 100000}", `p.yaml:30: global_limits: max_sidecars 100000 must be from 1 to 1000`},
		{"empty block", "global_limits: {}", `p.yaml:30: global_limits: max_sidecars 0 must be from 1 to 1000`},
		{"not a number", "global_limits: {max_sidecars: lots}", `p.yaml:30: cannot unmarshal !!str ` + "`lots`" + ` into int`},
		{"unknown field", "global_limits: {max_members: 5}", `p.yaml:30: field max_members not found in GlobalLimitsSpec`},
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
		return snap.GlobalMaxSidecars
	}
	if got := compiled("global_limits: {max_sidecars: 40}"); got != 40 {
		t.Errorf("GlobalMaxSidecars = %d, want 40", got)
	}
	if got := compiled(""); got != DefaultGlobalMaxSidecars {
		t.Errorf("GlobalMaxSidecars without global_limits = %d, want %d", got, DefaultGlobalMaxSidecars)
	}
}
