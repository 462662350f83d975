package inject_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/portcullis/portcullis/inject"
)

// vapEval evaluates a ValidatingAdmissionPolicy's variables,
// matchConditions and validations with cel-go, the evaluator the API
// server runs them with. No API server runs here: the variables are
// declared dynamic (the API server types object by the Pod's schema, and
// the policy keeps each container list apart so that it compiles there
// too), and a variable's value is computed in order, as the API server
// does lazily.
type vapEval struct {
	t        *testing.T
	vars     []admissionregv1.Variable
	progs    map[string]cel.Program
	matches  []string
	validate []string
}

func newVAPEval(t *testing.T, p *admissionregv1.ValidatingAdmissionPolicy) *vapEval {
	t.Helper()
	env, err := cel.NewEnv(cel.Variable("request", cel.DynType), cel.Variable("object", cel.DynType),
		cel.Variable("namespaceObject", cel.DynType), cel.Variable("variables", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	e := &vapEval{t: t, vars: p.Spec.Variables, progs: map[string]cel.Program{}}
	compile := func(expr string) {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			t.Fatalf("policy %s: expression does not compile: %v\n%s", p.Name, iss.Err(), expr)
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		e.progs[expr] = prg
	}
	for _, v := range p.Spec.Variables {
		compile(v.Expression)
	}
	for _, m := range p.Spec.MatchConditions {
		compile(m.Expression)
		e.matches = append(e.matches, m.Expression)
	}
	for _, v := range p.Spec.Validations {
		compile(v.Expression)
		e.validate = append(e.validate, v.Expression)
	}
	return e
}

// admits reports whether the policy admits pod in a namespace with
// nsLabels (not matched, or every validation true), and the message of
// the first validation failing.
func (e *vapEval) admits(pod map[string]any, nsLabels map[string]any) (bool, string) {
	e.t.Helper()
	vars := map[string]any{}
	in := map[string]any{"request": map[string]any{"operation": "CREATE"}, "object": pod,
		"namespaceObject": map[string]any{"metadata": map[string]any{"name": "shop", "labels": nsLabels}}, "variables": vars}
	eval := func(expr string) any {
		e.t.Helper()
		out, _, err := e.progs[expr].Eval(in)
		if err != nil {
			// With failurePolicy Fail an expression that errors refuses.
			e.t.Fatalf("policy expression errs on %v: %v\n%s", pod, err, expr)
		}
		return out.Value()
	}
	for _, v := range e.vars {
		vars[v.Name] = eval(v.Expression)
	}
	for _, m := range e.matches {
		if eval(m) != true {
			return true, ""
		}
	}
	for i, v := range e.validate {
		if eval(v) != true {
			return false, fmt.Sprintf("validation %d refuses", i+1)
		}
	}
	return true, ""
}

// genericPod decodes a pod's JSON as the generic values CEL reads.
func genericPod(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSidecarSecretsPolicy: the injector refused the app the sidecars'
// Secrets only in the pods it saw, so a pod it never saw (a namespace not
// labelled for injection where the pod does not ask for the sidecar, a pod
// opted out, one created while the per-pod webhook got no answer) mounted
// portcullis-sidecar-tls, the sidecars' etcd client certificate, and
// portcullis-collector-token. The base now ships a ValidatingAdmissionPolicy,
// evaluated by the API server itself, refusing such a pod unless the
// Secrets are where the injector puts them (its volumes, mounted by the
// container portcullis alone, in no environment) in a pod the injector
// injects, with its label; and a validating webhook, called for such pods
// only, that holds their container portcullis to the injector's sidecar.
// The policy's expressions are evaluated here with cel-go against pods the
// webhook injected and pods an author wrote.
func TestSidecarSecretsPolicy(t *testing.T) {
	var policy *admissionregv1.ValidatingAdmissionPolicy
	var binding *admissionregv1.ValidatingAdmissionPolicyBinding
	var hooks *admissionregv1.ValidatingWebhookConfiguration
	for _, doc := range kustomize(t, base) {
		var o object
		if err := json.Unmarshal(doc, &o); err != nil {
			t.Fatal(err)
		}
		o.raw = doc
		switch v := decodeTyped(t, o).(type) {
		case *admissionregv1.ValidatingAdmissionPolicy:
			if o.Metadata.Name == "portcullis-sidecar-secrets" {
				policy = v
			}
		case *admissionregv1.ValidatingAdmissionPolicyBinding:
			if o.Metadata.Name == "portcullis-sidecar-secrets" {
				binding = v
			}
		case *admissionregv1.ValidatingWebhookConfiguration:
			hooks = v
		}
	}
	if policy == nil || binding == nil {
		t.Fatalf("the base has no ValidatingAdmissionPolicy portcullis-sidecar-secrets and its binding (policy %v, binding %v)", policy != nil, binding != nil)
	}
	if policy.Spec.FailurePolicy == nil || *policy.Spec.FailurePolicy != admissionregv1.Fail || binding.Spec.PolicyName != policy.Name ||
		!slices.Equal(binding.Spec.ValidationActions, []admissionregv1.ValidationAction{admissionregv1.Deny}) {
		t.Errorf("sidecar secrets policy: failurePolicy %v, binding %+v; want Fail, bound with Deny", policy.Spec.FailurePolicy, binding.Spec)
	}
	rules := policy.Spec.MatchConstraints.ResourceRules
	if len(rules) != 2 || !slices.Equal(rules[0].Resources, []string{"pods"}) || !slices.Equal(rules[0].Operations, []admissionregv1.OperationType{admissionregv1.Create}) ||
		!slices.Equal(rules[1].Resources, []string{"pods/ephemeralcontainers"}) || !slices.Equal(rules[1].Operations, []admissionregv1.OperationType{admissionregv1.Update}) {
		t.Errorf("sidecar secrets policy rules = %+v, want CREATE of pods and UPDATE of pods/ephemeralcontainers", rules)
	}
	ns, err := metav1.LabelSelectorAsSelector(policy.Spec.MatchConstraints.NamespaceSelector)
	if err != nil || !ns.Matches(labels.Set{"kubernetes.io/metadata.name": "shop"}) || !ns.Matches(labels.Set{"kubernetes.io/metadata.name": "unlabelled"}) ||
		ns.Matches(labels.Set{"kubernetes.io/metadata.name": "portcullis"}) {
		t.Errorf("sidecar secrets policy namespaceSelector = %+v, want every namespace but the control plane's", policy.Spec.MatchConstraints.NamespaceSelector)
	}
	// The names the policy holds are the injector's (Defaults and the
	// shipped configuration).
	shipped, err := inject.LoadConfig(base + "/injector-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(policy.Spec)
	for _, c := range []inject.Config{inject.Defaults(), shipped} {
		for _, name := range []string{c.Etcd.ClientSecret, c.Collector.TokenSecret} {
			if !bytes.Contains(raw, []byte("'"+name+"'")) {
				t.Errorf("the policy does not name the Secret %q of the injector's configuration", name)
			}
		}
	}
	for _, m := range policy.Spec.MatchConditions {
		// Written out: the Kubernetes documentation says nothing of
		// variables in a policy's matchConditions, and one that does not
		// compile there refuses every pod (failurePolicy Fail).
		if strings.Contains(m.Expression, "variables.") {
			t.Errorf("sidecar secrets policy matchCondition %q names the policy's variables", m.Name)
		}
	}
	checkSecretsWebhook(t, hooks)

	eval := newVAPEval(t, policy)
	url, client := webhook(t, inject.Defaults())
	app := `{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]%s}`
	plainPod := func(meta, extraSpec, appExtra string) []byte {
		return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"` + meta + `},"spec":{` + extraSpec + `"containers":[` +
			strings.Replace(app, "%s", appExtra, 1) + `]}}`)
	}
	_, byNamespace, _ := injectPod(t, url, client, inject.PathNamespace, plainPod("", "", ""))
	_, byAnnotation, _ := injectPod(t, url, client, inject.PathInject, plainPod(`,"annotations":{"portcullis.dev/inject":"true"}`, "", ""))
	// `portcullis inject -f app.yaml | kubectl apply -f -` into a
	// namespace the webhooks do not inject: the pods its ReplicaSet
	// creates are the template's.
	deploy := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "a", "namespace": "dev"},
		"spec": map[string]any{"template": genericPod(t, plainPod(`,"labels":{"app":"a"}`, "", ""))}}
	if _, err := inject.Defaults().Object(deploy); err != nil {
		t.Fatal(err)
	}
	offline, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": deploy["spec"].(map[string]any)["template"].(map[string]any)["metadata"],
		"spec":     deploy["spec"].(map[string]any)["template"].(map[string]any)["spec"]})
	labelled := map[string]any{"kubernetes.io/metadata.name": "shop", "portcullis.dev/inject": "true"}
	unlabelled := map[string]any{"kubernetes.io/metadata.name": "dev"}
	edit := func(pod []byte, f func(p map[string]any)) map[string]any {
		m := genericPod(t, pod)
		f(m)
		return m
	}
	spec := func(p map[string]any) map[string]any { return p["spec"].(map[string]any) }
	first := func(p map[string]any, key string) map[string]any {
		for _, c := range spec(p)[key].([]any) {
			if c.(map[string]any)["name"] != "portcullis" {
				return c.(map[string]any)
			}
		}
		t.Fatalf("no container but the sidecar in %s", key)
		return nil
	}
	tokenVolume := `"volumes":[{"name":"creds","secret":{"secretName":"portcullis-sidecar-tls"}}],`
	mount := `,"volumeMounts":[{"name":"creds","mountPath":"/creds"}]`
	for _, tc := range []struct {
		name string
		pod  map[string]any
		ns   map[string]any
		want bool
	}{
		{"injected in a labelled namespace", genericPod(t, byNamespace), labelled, true},
		{"injected by its own annotation", genericPod(t, byAnnotation), unlabelled, true},
		{"injected offline, applied to a namespace not labelled", genericPod(t, offline), unlabelled, true},
		{"a pod of another Secret", genericPod(t, plainPod("", `"volumes":[{"name":"creds","secret":{"secretName":"app-db"}}],`, mount)), unlabelled, true},
		{"a plain pod", genericPod(t, plainPod("", "", "")), unlabelled, true},

		{"the etcd certificate mounted by a pod the injector never saw", genericPod(t, plainPod("", tokenVolume, mount)), unlabelled, false},
		{"the etcd certificate in a labelled namespace's opted-out pod", genericPod(t, plainPod(`,"annotations":{"portcullis.dev/inject":"false"}`, tokenVolume, mount)), labelled, false},
		{"the token in the environment", genericPod(t, plainPod("", "", `,"envFrom":[{"secretRef":{"name":"portcullis-collector-token"}}]`)), unlabelled, false},
		{"the token in an env var", genericPod(t, plainPod("", "", `,"env":[{"name":"T","valueFrom":{"secretKeyRef":{"name":"portcullis-collector-token","key":"token"}}}]`)), labelled, false},
		{"a copy of the injected pod in a namespace that does not ask for it", genericPod(t, byNamespace), unlabelled, false},
		{"the injected pod without its label", edit(byNamespace, func(p map[string]any) {
			delete(p["metadata"].(map[string]any)["labels"].(map[string]any), "portcullis.dev/sidecar")
		}), labelled, false},
		{"the injected pod annotated out", edit(byNamespace, func(p map[string]any) {
			p["metadata"].(map[string]any)["annotations"].(map[string]any)["portcullis.dev/inject"] = "false"
		}), labelled, false},
		{"the injected pod whose app mounts the sidecar's volume", edit(byNamespace, func(p map[string]any) {
			first(p, "containers")["volumeMounts"] = []any{map[string]any{"name": "portcullis-tls", "mountPath": "/x"}}
		}), labelled, false},
		{"the injected pod with a projected volume of the token", edit(byNamespace, func(p map[string]any) {
			spec(p)["volumes"] = append(spec(p)["volumes"].([]any), map[string]any{"name": "more", "projected": map[string]any{"sources": []any{
				map[string]any{"secret": map[string]any{"name": "portcullis-collector-token"}}}}})
		}), labelled, false},
		{"the injected pod with its token volume projected", edit(byNamespace, func(p map[string]any) {
			for _, v := range spec(p)["volumes"].([]any) {
				if v := v.(map[string]any); v["name"] == "portcullis-token" {
					delete(v, "secret")
					v["projected"] = map[string]any{"sources": []any{map[string]any{"secret": map[string]any{"name": "portcullis-collector-token"}}}}
				}
			}
		}), labelled, false},
		{"an ephemeral container taking the token", edit(byNamespace, func(p map[string]any) {
			spec(p)["ephemeralContainers"] = []any{map[string]any{"name": "debug", "image": "busybox", "envFrom": []any{
				map[string]any{"secretRef": map[string]any{"name": "portcullis-collector-token"}}}}}
		}), labelled, false},
		{"an ephemeral container mounting the certificate", edit(byNamespace, func(p map[string]any) {
			spec(p)["ephemeralContainers"] = []any{map[string]any{"name": "portcullis-debug", "image": "busybox", "volumeMounts": []any{
				map[string]any{"name": "portcullis-tls", "mountPath": "/x"}}}}
		}), labelled, false},
		{"an ephemeral container of its own", edit(byNamespace, func(p map[string]any) {
			spec(p)["ephemeralContainers"] = []any{map[string]any{"name": "debug", "image": "busybox", "targetContainerName": "a"}}
		}), labelled, true},
	} {
		if got, msg := eval.admits(tc.pod, tc.ns); got != tc.want {
			t.Errorf("%s: admitted %v (%s), want %v", tc.name, got, msg, tc.want)
		}
	}
}

// checkSecretsWebhook: the validating webhook calling PathSecrets fails
// closed, sees every app namespace, and only the pods drawing on the
// sidecars' Secrets (its matchCondition, evaluated with cel-go), so that
// other pods never wait on the injector.
func checkSecretsWebhook(t *testing.T, v *admissionregv1.ValidatingWebhookConfiguration) {
	t.Helper()
	var w *admissionregv1.ValidatingWebhook
	for i := range v.Webhooks {
		if s := v.Webhooks[i].ClientConfig.Service; s != nil && s.Path != nil && *s.Path == inject.PathSecrets {
			w = &v.Webhooks[i]
		}
	}
	if w == nil {
		t.Fatalf("no validating webhook calls %s", inject.PathSecrets)
	}
	if w.FailurePolicy == nil || *w.FailurePolicy != admissionregv1.Fail || len(w.Rules) != 1 ||
		!slices.Equal(w.Rules[0].Operations, []admissionregv1.OperationType{admissionregv1.Create}) || !slices.Equal(w.Rules[0].Resources, []string{"pods"}) {
		t.Errorf("secrets webhook: failure policy %v, rules %+v; want Fail, CREATE of pods", w.FailurePolicy, w.Rules)
	}
	ns, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
	if err != nil || !ns.Matches(labels.Set{"kubernetes.io/metadata.name": "dev"}) || ns.Matches(labels.Set{"kubernetes.io/metadata.name": "portcullis"}) {
		t.Errorf("secrets webhook namespaceSelector = %+v, want every namespace but the control plane's", w.NamespaceSelector)
	}
	if len(w.MatchConditions) != 1 {
		t.Fatalf("secrets webhook: %d matchConditions, want 1", len(w.MatchConditions))
	}
	env, err := cel.NewEnv(cel.Variable("object", cel.DynType), cel.Variable("request", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Compile(w.MatchConditions[0].Expression)
	if iss.Err() != nil {
		t.Fatalf("secrets webhook matchCondition does not compile: %v", iss.Err())
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	pod := func(spec string) map[string]any {
		return genericPod(t, []byte(`{"metadata":{"name":"p"},"spec":{`+spec+`}}`))
	}
	for _, tc := range []struct {
		name string
		pod  map[string]any
		want bool
	}{
		{"no volumes", pod(`"containers":[{"name":"a","image":"a"}]`), false},
		{"another Secret", pod(`"volumes":[{"name":"v","secret":{"secretName":"app-db"}},{"name":"e","emptyDir":{}}],"containers":[{"name":"a","image":"a","envFrom":[{"configMapRef":{"name":"x"}}]}]`), false},
		{"the certificate", pod(`"volumes":[{"name":"v","secret":{"secretName":"portcullis-sidecar-tls"}}],"containers":[{"name":"a","image":"a"}]`), true},
		{"the token projected", pod(`"volumes":[{"name":"v","projected":{"sources":[{"configMap":{"name":"x"}},{"secret":{"name":"portcullis-collector-token"}}]}}],"containers":[{"name":"a","image":"a"}]`), true},
		{"the token in env", pod(`"containers":[{"name":"a","image":"a","env":[{"name":"A","value":"b"},{"name":"T","valueFrom":{"secretKeyRef":{"name":"portcullis-collector-token","key":"token"}}}]}]`), true},
		{"the certificate in an init container's envFrom", pod(`"initContainers":[{"name":"i","image":"a","envFrom":[{"secretRef":{"name":"portcullis-sidecar-tls"}}]}],"containers":[{"name":"a","image":"a"}]`), true},
	} {
		out, _, err := prg.Eval(map[string]any{"object": tc.pod, "request": map[string]any{}})
		if err != nil {
			t.Errorf("secrets webhook matchCondition on %s: %v (with failurePolicy Fail the pod is refused)", tc.name, err)
			continue
		}
		if out.Value() != tc.want {
			t.Errorf("secrets webhook matchCondition on %s = %v, want %v", tc.name, out.Value(), tc.want)
		}
	}
}

// TestWebhookSecretsRefusesPodsWithoutTheSidecar: at PathSecrets, a pod
// drawing on the sidecars' Secrets is allowed only with the injector's
// sidecar: one mounting them bare, or beside a container named portcullis
// of its author's (the policy's structure holds, not the container), is
// refused; the injected pod and pods drawing on other Secrets pass.
func TestWebhookSecretsRefusesPodsWithoutTheSidecar(t *testing.T) {
	c := inject.Defaults()
	url, client := webhook(t, c)
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	bare := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"volumes":[{"name":"creds","secret":{"secretName":"` + c.Etcd.ClientSecret + `"}}],` +
		`"containers":[{"name":"a","image":"a","volumeMounts":[{"name":"creds","mountPath":"/creds"}]}]}}`)
	// The author's own container portcullis, with the sidecar's volumes
	// and label, running another image.
	impostor := bytes.ReplaceAll(injected, []byte(`"image":"`+c.Image+`"`), []byte(`"image":"evil:1"`))
	if bytes.Equal(impostor, injected) {
		t.Fatal("no sidecar image to replace")
	}
	for _, tc := range []struct {
		name string
		pod  []byte
		want bool
	}{
		{"the injected pod", injected, true},
		{"a plain pod", plain, true},
		{"the etcd certificate mounted bare", bare, false},
		{"a container portcullis of the author's with the sidecar's volumes", impostor, false},
	} {
		resp := review(t, url, client, inject.PathSecrets, tc.pod)
		if resp.Allowed != tc.want {
			t.Errorf("%s: allowed %v (%+v), want %v", tc.name, resp.Allowed, resp.Result, tc.want)
		}
		if !tc.want && (resp.Result == nil || !strings.Contains(resp.Result.Message, "portcullis")) {
			t.Errorf("%s: refused without a reason: %+v", tc.name, resp.Result)
		}
	}
}
