package inject_test

import (
	"bytes"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookBindsTheServiceToTheNamespace: the annotation
// portcullis.dev/service (and the app.kubernetes.io/name or app label)
// named the sidecar's --service, the service.name of its audit records,
// with whatever its author wrote: a pod of namespace shop had its
// records attributed to billing, another team's service. The namespace
// now binds the name: a pod names only a service the injector's
// configuration lists for its namespace (services), else the namespace's
// own name, at injection and in a sidecar it brought; a label naming
// another is passed over for the namespace's first service.
func TestWebhookBindsTheServiceToTheNamespace(t *testing.T) {
	cfg := inject.Defaults()
	cfg.Services = map[string][]string{"shop": {"hr-service", "hr-admin"}}
	url, client := webhook(t, cfg)
	pod := func(meta string) []byte {
		return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"` + meta + `},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	}
	create := func(ns, path string, obj []byte) *admissionv1.AdmissionResponse {
		t.Helper()
		return reviewIn(t, url, client, path, ns, "CREATE", metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, obj)
	}
	service := func(ns string, obj []byte) string {
		t.Helper()
		resp := create(ns, inject.PathNamespace, obj)
		if !resp.Allowed || len(resp.Patch) == 0 {
			t.Fatalf("namespace %s, %s: allowed %v, patch %d bytes, status %+v; want injected", ns, obj, resp.Allowed, len(resp.Patch), resp.Result)
		}
		var p corev1.Pod
		strict(t, applyPatch(t, obj, resp.Patch), &p)
		return argValue(sidecarOf(t, &p, false), "service")
	}
	for _, tc := range []struct{ name, ns, meta, want string }{
		{"annotated with a service of its namespace", "shop", `,"annotations":{"portcullis.dev/service":"hr-admin"}`, "hr-admin"},
		{"labelled with a service of its namespace", "shop", `,"labels":{"app.kubernetes.io/name":"hr-admin"}`, "hr-admin"},
		{"labelled with another team's service", "shop", `,"labels":{"app":"billing"}`, "hr-service"},
		{"no name", "shop", ``, "hr-service"},
		{"a namespace the configuration does not list", "dev", `,"labels":{"app":"billing"}`, "dev"},
	} {
		if got := service(tc.ns, pod(tc.meta)); got != tc.want {
			t.Errorf("%s: --service = %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct{ ns, name string }{{"shop", "billing"}, {"dev", "hr-service"}, {"dev", "billing"}} {
		resp := create(tc.ns, inject.PathNamespace, pod(`,"annotations":{"portcullis.dev/service":"`+tc.name+`"}`))
		if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `"`+tc.name+`" is not a service of namespace "`+tc.ns+`"`) ||
			!strings.Contains(resp.Result.Message, "services."+tc.ns) {
			t.Errorf("namespace %s annotated %s: allowed %v, status %+v; want refused naming the name, the namespace and services.%s", tc.ns, tc.name, resp.Allowed, resp.Result, tc.ns)
		}
	}

	// A sidecar the pod brought, with another namespace's service.
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, pod(`,"annotations":{"portcullis.dev/service":"hr-service"}`))
	billing := bytes.ReplaceAll(injected, []byte(`"--service=hr-service"`), []byte(`"--service=billing"`))
	if bytes.Equal(billing, injected) {
		t.Fatalf("no --service=hr-service in %s", injected)
	}
	for _, path := range []string{inject.PathNamespace, inject.PathVerify, inject.PathSecrets} {
		if resp := create("shop", path, injected); !resp.Allowed {
			t.Errorf("%s: the injector's own sidecar refused: %+v", path, resp.Result)
		}
		if resp := create("shop", path, billing); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `--service "billing" is not a service of namespace "shop"`) {
			t.Errorf("%s: a sidecar brought with --service=billing: allowed %v, status %+v; want refused naming it", path, resp.Allowed, resp.Result)
		}
		// The same pod created in another namespace: hr-service is shop's.
		if resp := create("dev", path, injected); resp.Allowed {
			t.Errorf("%s: shop's sidecar (--service=hr-service) created in dev: allowed; want refused", path)
		}
	}
}

// TestInjectBindsTheServiceToTheNamespace: portcullis inject holds a
// workload of a namespace its manifest names to that namespace's
// services, as the webhook does; one that names no namespace keeps the
// name it asked for, which the webhook checks when its pods are created.
func TestInjectBindsTheServiceToTheNamespace(t *testing.T) {
	cfg := inject.Defaults()
	cfg.Services = map[string][]string{"shop": {"hr-service"}}
	deployment := func(ns string) string {
		return `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"` + ns + `},"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"},` +
			`"annotations":{"portcullis.dev/service":"billing"}},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}}}`
	}
	var out bytes.Buffer
	if _, err := cfg.Inject(strings.NewReader(deployment(`,"namespace":"shop"`)), &out, "json"); err == nil || !strings.Contains(err.Error(), `"billing" is not a service of namespace "shop"`) {
		t.Errorf("Deployment of shop annotated billing: err %v; want refused naming it", err)
	}
	out.Reset()
	if _, err := cfg.Inject(strings.NewReader(deployment(``)), &out, "json"); err != nil || !strings.Contains(out.String(), `"--service=billing"`) {
		t.Errorf("Deployment of no namespace annotated billing: err %v, --service=billing %v; want injected as asked (the webhook checks it)", err, strings.Contains(out.String(), `"--service=billing"`))
	}
}

// TestServicesConfigIsChecked: the services a configuration lists are
// namespaces' names and service names.
func TestServicesConfigIsChecked(t *testing.T) {
	for _, bad := range []map[string][]string{{"Shop": {"a"}}, {"shop": {}}, {"shop": {"a b"}}} {
		c := inject.Defaults()
		c.Services = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "services") {
			t.Errorf("services %v: %v; want refused naming services", bad, err)
		}
	}
}

// TestServiceNamesCannotCollide: a namespace the configuration does not
// list named its pods' service after itself, and nothing kept that name
// from being another namespace's listed service: beside services: {shop:
// [billing]}, the pods of a namespace named billing had their records
// attributed to shop's billing. Such a namespace's pods are now refused,
// naming services.<namespace>; two namespaces listing one name are a
// configuration error.
func TestServiceNamesCannotCollide(t *testing.T) {
	cfg := inject.Defaults()
	cfg.Services = map[string][]string{"shop": {"hr-service", "billing"}}
	url, client := webhook(t, cfg)
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	resp := reviewIn(t, url, client, inject.PathNamespace, "billing", "CREATE", metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, pod)
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `a service of namespace "shop"`) || !strings.Contains(resp.Result.Message, "services.billing") {
		got := ""
		if resp.Allowed && len(resp.Patch) > 0 {
			var p corev1.Pod
			strict(t, applyPatch(t, pod, resp.Patch), &p)
			got = argValue(sidecarOf(t, &p, false), "service")
		}
		t.Errorf("a pod of the unlisted namespace billing, billing being shop's service: allowed %v, --service %q, status %+v; want refused naming shop and services.billing", resp.Allowed, got, resp.Result)
	}
	if resp := reviewIn(t, url, client, inject.PathNamespace, "dev", "CREATE", metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, pod); !resp.Allowed || len(resp.Patch) == 0 {
		t.Errorf("a pod of the unlisted namespace dev: allowed %v, status %+v; want injected as dev", resp.Allowed, resp.Result)
	}

	cfg.Services["finance"] = []string{"billing"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `"billing" is listed by services.finance too`) {
		t.Errorf("services shop and finance both listing billing: %v; want refused naming both", err)
	}
}
