package main

import (
	"strings"
	"testing"
)

// TestEvidencePackMaxPerSenderNotNegative: --max-instances-per-sender is
// how many instances and pods of one sender the pack follows; a negative
// one is refused, naming it, not taken as the default.
func TestEvidencePackMaxPerSenderNotNegative(t *testing.T) {
	t.Parallel()
	r := portcullis(t, "", nil, "evidence", "pack", "--period", "2026-Q2", "--data", t.TempDir(), "--out", t.TempDir(),
		"--policy", "../../examples/policy.yaml", "--max-instances-per-sender", "-1")
	if r.code == 0 || !strings.Contains(r.stderr, "--max-instances-per-sender -1 is negative") {
		t.Errorf("exit %d, stderr %q; want a refusal saying --max-instances-per-sender -1 is negative", r.code, r.stderr)
	}
}
