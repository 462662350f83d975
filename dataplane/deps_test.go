package dataplane

import (
	"os/exec"
	"strings"
	"testing"
)

// The data plane and the limiter must not depend on etcd or gRPC
// (docs/ARCHITECTURE.md, "Packages and their imports").
func TestDependencyDirection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, pkg := range []string{"github.com/portcullis/portcullis/dataplane", "github.com/portcullis/portcullis/limiter"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 5 {
			t.Fatalf("go list -deps %s listed only %v", pkg, deps)
		}
		for _, d := range deps {
			if strings.HasPrefix(d, "go.etcd.io/") || strings.HasPrefix(d, "google.golang.org/grpc") {
				t.Errorf("%s depends on %s", pkg, d)
			}
			if pkg == "github.com/portcullis/portcullis/limiter" && strings.Contains(strings.Split(d, "/")[0], ".") && !strings.HasPrefix(d, "github.com/portcullis/portcullis/limiter") {
				t.Errorf("limiter must use the standard library only, depends on %s", d)
			}
		}
	}
}
