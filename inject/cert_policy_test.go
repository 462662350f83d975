package inject_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// checkCertificatePolicy: the ClusterIssuer portcullis-ca serves every
// namespace, and cert-manager's release gives the aggregated edit role
// Certificates and CertificateRequests, so a namespace's user could have
// it sign a commonName of root or portcullis-operator (etcd's users of
// those names) or a server name of etcd or the collector. The base's
// ValidatingAdmissionPolicy lets it sign, outside the portcullis
// namespace, only the sidecars' client certificate, and
// CertificateRequests only from cert-manager's controller. Its
// expressions run here with cel-go, the evaluator the API server runs
// them with (no API server runs here; the variables are dynamic, as to
// the API server an expression over a custom resource's fields is); the
// base's own Certificates outside portcullis pass it.
func checkCertificatePolicy(t *testing.T, p *admissionregv1.ValidatingAdmissionPolicy, b *admissionregv1.ValidatingAdmissionPolicyBinding, certificates []object) {
	t.Helper()
	if p.Spec.FailurePolicy == nil || *p.Spec.FailurePolicy != admissionregv1.Fail || b.Spec.PolicyName != p.Name ||
		len(b.Spec.ValidationActions) != 1 || b.Spec.ValidationActions[0] != admissionregv1.Deny {
		t.Errorf("certificate policy: failurePolicy %v, binding %+v; want Fail, bound with Deny", p.Spec.FailurePolicy, b.Spec)
	}
	if len(p.Spec.MatchConditions) != 1 || len(p.Spec.Validations) != 2 || p.Spec.MatchConstraints == nil {
		t.Fatalf("certificate policy: %d matchConditions, %d validations; want 1 and 2", len(p.Spec.MatchConditions), len(p.Spec.Validations))
	}
	ns, err := metav1.LabelSelectorAsSelector(p.Spec.MatchConstraints.NamespaceSelector)
	if err != nil || !ns.Matches(labels.Set{"kubernetes.io/metadata.name": "shop"}) || ns.Matches(labels.Set{"kubernetes.io/metadata.name": "portcullis"}) {
		t.Errorf("certificate policy namespaceSelector = %+v, want every namespace but portcullis", p.Spec.MatchConstraints.NamespaceSelector)
	}
	env, err := cel.NewEnv(cel.Variable("request", cel.DynType), cel.Variable("object", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	compile := func(expr string) cel.Program {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			t.Fatalf("certificate policy expression does not compile: %v\n%s", iss.Err(), expr)
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		return prg
	}
	match := compile(p.Spec.MatchConditions[0].Expression)
	var checks []cel.Program
	for _, v := range p.Spec.Validations {
		checks = append(checks, compile(v.Expression))
	}
	eval := func(prg cel.Program, kind, user string, obj map[string]any) bool {
		t.Helper()
		req := map[string]any{"kind": map[string]any{"kind": kind}, "userInfo": map[string]any{"username": user}}
		out, _, err := prg.Eval(map[string]any{"request": req, "object": obj})
		if err != nil {
			t.Fatalf("certificate policy on %v: %v", obj, err)
		}
		got, ok := out.Value().(bool)
		if !ok {
			t.Fatalf("certificate policy on %v = %v, not a bool", obj, out.Value())
		}
		return got
	}
	// admitted evaluates the policy as the API server does: not matched,
	// or every validation true.
	admitted := func(kind, user string, obj map[string]any) bool {
		if !eval(match, kind, user, obj) {
			return true
		}
		for _, c := range checks {
			if !eval(c, kind, user, obj) {
				return false
			}
		}
		return true
	}
	sidecar := func(edit func(spec map[string]any)) map[string]any {
		spec := map[string]any{"secretName": "portcullis-sidecar-tls", "commonName": "portcullis-sidecar", "usages": []any{"client auth"},
			"issuerRef": map[string]any{"name": "portcullis-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}}
		if edit != nil {
			edit(spec)
		}
		return map[string]any{"metadata": map[string]any{"name": "c", "namespace": "shop"}, "spec": spec}
	}
	const tenant, certManager = "alice", "system:serviceaccount:cert-manager:cert-manager"
	for _, tc := range []struct {
		name string
		kind string
		user string
		obj  map[string]any
		want bool
	}{
		{"the sidecars' certificate", "Certificate", tenant, sidecar(nil), true},
		{"commonName root", "Certificate", tenant, sidecar(func(s map[string]any) { s["commonName"] = "root" }), false},
		{"commonName portcullis-operator", "Certificate", tenant, sidecar(func(s map[string]any) { s["commonName"] = "portcullis-operator" }), false},
		{"no commonName", "Certificate", tenant, sidecar(func(s map[string]any) { delete(s, "commonName") }), false},
		{"literalSubject CN=root", "Certificate", tenant, sidecar(func(s map[string]any) { s["literalSubject"] = "CN=root" }), false},
		{"etcd's server name", "Certificate", tenant, sidecar(func(s map[string]any) { s["dnsNames"] = []any{"etcd-0.etcd.portcullis.svc"} }), false},
		{"server auth", "Certificate", tenant, sidecar(func(s map[string]any) { s["usages"] = []any{"client auth", "server auth"} }), false},
		{"default usages", "Certificate", tenant, sidecar(func(s map[string]any) { delete(s, "usages") }), false},
		{"a CA", "Certificate", tenant, sidecar(func(s map[string]any) { s["isCA"] = true }), false},
		// Under another name the Secret is mountable past the sidecar
		// secrets policy (TestSidecarSecretsPolicy).
		{"another Secret", "Certificate", tenant, sidecar(func(s map[string]any) { s["secretName"] = "mine" }), false},
		{"a request of the tenant's", "CertificateRequest", tenant, sidecar(nil), false},
		{"cert-manager's request", "CertificateRequest", certManager, sidecar(nil), true},
		{"the tenant's own Issuer of that name", "Certificate", tenant, sidecar(func(s map[string]any) {
			s["commonName"] = "root"
			s["issuerRef"] = map[string]any{"name": "portcullis-ca"}
		}), true},
		{"another ClusterIssuer", "Certificate", tenant, sidecar(func(s map[string]any) {
			s["commonName"] = "www.example"
			s["issuerRef"] = map[string]any{"name": "letsencrypt", "kind": "ClusterIssuer"}
		}), true},
		{"portcullis-ca without the group", "Certificate", tenant, sidecar(func(s map[string]any) {
			s["commonName"] = "root"
			s["issuerRef"] = map[string]any{"name": "portcullis-ca", "kind": "ClusterIssuer"}
		}), false},
	} {
		if got := admitted(tc.kind, tc.user, tc.obj); got != tc.want {
			t.Errorf("certificate policy, %s: admitted %v, want %v", tc.name, got, tc.want)
		}
	}
	var outside int
	for _, c := range certificates {
		if c.Metadata.Namespace == "portcullis" {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(c.raw, &obj); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(c.raw), `"portcullis-ca"`) {
			outside++
		}
		if !admitted("Certificate", tenant, obj) {
			t.Errorf("the base's %s is refused by its own certificate policy", c.id())
		}
	}
	if outside == 0 {
		t.Errorf("no Certificate of portcullis-ca outside the portcullis namespace in the base (the example app's portcullis-sidecar)")
	}
}
