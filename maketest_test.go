package portcullis_test

import (
	"go/build/constraint"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestRaceOffTestsRunInMakeTest: make test runs every test with the race
// detector, then, in a second pass, the tests of the files its grep
// selects as built only without it. A file built without the race
// detector that the grep does not select runs in neither pass: the
// grep took '^//go:build !race' only, and the files of "linux && !race"
// (the slow reader cut tests, the raw socket tests) never ran.
func TestRaceOffTestsRunInMakeTest(t *testing.T) {
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`grep -l '([^']+)' \$\$\(git ls-files '\*_test\.go'\)`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile: no grep -l '...' $$(git ls-files '*_test.go') selecting the tests built without the race detector")
	}
	sel := regexp.MustCompile("(?m)" + string(m[1])) // a basic regular expression Go's reads alike: ^, ., *, !
	out, err := exec.Command("git", "ls-files", "*_test.go").Output()
	if err != nil {
		t.Skipf("git ls-files: %v", err)
	}
	for _, f := range strings.Fields(string(out)) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !constraint.IsGoBuild(line) {
				continue
			}
			expr, err := constraint.Parse(line)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			// Built on linux without the race detector, and not with it.
			on := func(race bool) bool {
				return expr.Eval(func(tag string) bool { return tag == "linux" || tag == "amd64" || tag == "race" && race })
			}
			if on(false) && !on(true) && !sel.MatchString(line) {
				t.Errorf("%s (%s) is built only without the race detector, and make test's second pass does not select it: its tests run in neither pass", f, line)
			}
			break
		}
	}
}
