package policy

import (
	"strings"
	"testing"
)

// countCase is a setting's YAML and the error it must give (Load).
type countCase struct{ name, yaml, want string }

// checkCountSetting runs the cases of a count setting (TestPublicRoutesMaxInFlight,
// TestGlobalLimitsMaxSidecars): each bad YAML is an error containing its
// want, never read as "no cap" or as the default; then set, compiled
// with it, must read n through got, and none (no YAML), def.
func checkCountSetting(t *testing.T, bad []countCase, set string, n int, def int, got func(*Snapshot) int) {
	t.Helper()
	for _, tt := range bad {
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
		return got(snap)
	}
	if v := compiled(set); v != n {
		t.Errorf("compiled with %q: %d, want %d", set, v, n)
	}
	if v := compiled(""); v != def {
		t.Errorf("compiled without the setting: %d, want %d (the default)", v, def)
	}
}
