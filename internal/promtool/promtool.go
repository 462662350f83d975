// Package promtool finds Prometheus' promtool for tests that check what
// the project hands to Prometheus: the /metrics exposition (promtool check
// metrics) and the rules of deploy/observability (promtool test rules).
//
// Path finds promtool, installing Debian's prometheus package when it is
// missing and it can (debpkg.Path).
package promtool

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/portcullis/portcullis/internal/debpkg"
)

// Path returns the path of promtool, installing it first when it is
// missing; it skips tb when promtool cannot be installed here.
func Path(tb testing.TB) string {
	tb.Helper()
	return debpkg.Path(tb, "promtool", "prometheus", "--no-install-recommends")
}

// CheckMetrics runs promtool check metrics on page, a text exposition; a
// lint problem or parse error fails tb.
func CheckMetrics(tb testing.TB, page []byte) {
	tb.Helper()
	cmd := exec.Command(Path(tb), "check", "metrics")
	cmd.Stdin = bytes.NewReader(page)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		tb.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
