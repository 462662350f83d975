package policy

import "testing"

// global_limits.max_sidecars bounds the members a global limit is shared
// among (etcdsync.ShareConfig.MaxMembers); a value that is not a count
// from 1 to MaxGlobalSidecars is an error naming it, never read as "no
// bound" or as the default. Without the block the snapshot holds
// DefaultGlobalMaxSidecars.
func TestGlobalLimitsMaxSidecars(t *testing.T) {
	t.Parallel()
	checkCountSetting(t, []countCase{
		{"zero", "global_limits: {max_sidecars: 0}", `p.yaml:30: global_limits: max_sidecars 0 must be from 1 to 1000`},
		{"negative", "global_limits:\n  max_sidecars: -3", `p.yaml:31: global_limits: max_sidecars -3 must be from 1 to 1000`},
		{"too many", "global_limits: {max_sidecars: 100000}", `p.yaml:30: global_limits: max_sidecars 100000 must be from 1 to 1000`},
		{"empty block", "global_limits: {}", `p.yaml:30: global_limits: max_sidecars 0 must be from 1 to 1000`},
		{"not a number", "global_limits: {max_sidecars: lots}", `p.yaml:30: max_sidecars: want an integer, got "lots"`},
		{"unknown field", "global_limits: {max_members: 5}", `p.yaml:30: field max_members not found in GlobalLimitsSpec`},
	}, "global_limits: {max_sidecars: 40}", 40, DefaultGlobalMaxSidecars, func(s *Snapshot) int { return s.GlobalMaxSidecars })
}
