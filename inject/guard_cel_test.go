package inject_test

import (
	"testing"

	"github.com/google/cel-go/cel"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
)

// checkGuardCondition evaluates the guard webhook's matchCondition with
// cel-go, the evaluator the API server runs it with (no API server runs
// here; the variables are declared dynamic, as the API server's object
// and oldObject are to an expression over unstructured fields). With
// failurePolicy Fail, an expression that errors on some update would have
// that update refused: kubelet's status updates of every injected pod.
func checkGuardCondition(t *testing.T, w *admissionregv1.ValidatingWebhook) {
	t.Helper()
	if len(w.MatchConditions) != 1 {
		return // checkGuard reports it
	}
	env, err := cel.NewEnv(cel.Variable("request", cel.DynType), cel.Variable("object", cel.DynType), cel.Variable("oldObject", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Compile(w.MatchConditions[0].Expression)
	if iss.Err() != nil {
		t.Fatalf("guard matchCondition does not compile: %v", iss.Err())
	}
	if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		t.Fatalf("guard matchCondition is of type %v, want bool", ast.OutputType())
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	pod := func(labels map[string]any) map[string]any {
		meta := map[string]any{"name": "p"}
		if labels != nil {
			meta["labels"] = labels
		}
		return map[string]any{"metadata": meta}
	}
	injected := map[string]any{"portcullis.dev/sidecar": "injected", "app": "shop"}
	for _, tc := range []struct {
		name     string
		sub      string
		old, new map[string]any
		want     bool
	}{
		{"pod update", "", pod(injected), pod(injected), true},
		{"status update, labels kept", "status", pod(injected), pod(injected), false},
		{"status update, other label changed", "status", pod(injected), pod(map[string]any{"portcullis.dev/sidecar": "injected"}), false},
		{"status update dropping the label", "status", pod(injected), pod(map[string]any{"app": "shop"}), true},
		{"status update dropping every label", "status", pod(injected), pod(nil), true},
		{"status update changing the label", "status", pod(injected), pod(map[string]any{"portcullis.dev/sidecar": "no"}), true},
		{"status update of a pod without labels", "status", pod(nil), pod(nil), false},
		{"status update adding the port label", "status", pod(injected), pod(map[string]any{"portcullis.dev/sidecar": "injected", "portcullis.dev/listen-port": "9090"}), true},
		{"status update dropping the port label", "status", pod(map[string]any{"portcullis.dev/sidecar": "injected", "portcullis.dev/listen-port": "9090"}), pod(injected), true},
		{"resize", "resize", pod(injected), pod(injected), true},
		{"ephemeral container added", "ephemeralcontainers", pod(injected), pod(injected), true},
	} {
		out, _, err := prg.Eval(map[string]any{"request": map[string]any{"subResource": tc.sub}, "object": tc.new, "oldObject": tc.old})
		if err != nil {
			t.Errorf("guard matchCondition on a %s: %v (with failurePolicy Fail the update is refused)", tc.name, err)
			continue
		}
		if got, ok := out.Value().(bool); !ok || got != tc.want {
			t.Errorf("guard matchCondition on a %s = %v, want %v", tc.name, out.Value(), tc.want)
		}
	}
}
