package inject_test

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookNotFooledBySidecarOfItsOwnFlags: a container named
// portcullis from the configured image running `portcullis sidecar`
// counted as the sidecar whatever its flags, so a pod's author in a
// fail-closed namespace could run the real image with its own policy
// (--policy from a ConfigMap allowing everything), its own etcd, or no
// collector, and the pod was admitted as already injected (the guard then
// kept that sidecar in place). Only the injector's own flags, with the
// configured etcd, certificates and collector, now count; the injector's
// container as it wrote it still does.
func TestWebhookNotFooledBySidecarOfItsOwnFlags(t *testing.T) {
	cfg := inject.Defaults()
	url, client := webhook(t, cfg)
	in := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, in)
	with := func(f func(ct *corev1.Container)) []byte {
		var p corev1.Pod
		strict(t, injected, &p)
		delete(p.Annotations, inject.AnnotationStatus)
		f(&p.Spec.InitContainers[0])
		b, err := json.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if resp := review(t, url, client, inject.PathNamespace, with(func(*corev1.Container) {})); !resp.Allowed || len(resp.Patch) != 0 {
		t.Fatalf("the injector's own sidecar: allowed %v, patch %d bytes, status %+v; want left alone", resp.Allowed, len(resp.Patch), resp.Result)
	}
	replace := func(flag, value string) func(ct *corev1.Container) {
		return func(ct *corev1.Container) {
			for i, a := range ct.Args {
				if strings.HasPrefix(a, flag+"=") {
					ct.Args[i] = flag + "=" + value
				}
			}
		}
	}
	for name, f := range map[string]func(ct *corev1.Container){
		"own policy file": func(ct *corev1.Container) { ct.Args = append(ct.Args, "--policy=/cfg/allow-all.yaml") },
		"own etcd":        replace("--etcd", "https://etcd.evil.example:2379"),
		"own etcd CA":     replace("--etcd-cacert", "/cfg/ca.crt"),
		"own collector":   replace("--collector", "http://127.0.0.1:1"),
		"no collector": func(ct *corev1.Container) {
			ct.Args = slicesDelete(ct.Args, func(a string) bool { return strings.HasPrefix(a, "--collector") })
		},
		"own command": func(ct *corev1.Container) { ct.Command = []string{"/portcullis"} },
		// The sidecar refuses a repeated flag (exit 2): admitted, the pod
		// would never serve.
		"a flag twice": func(ct *corev1.Container) { ct.Args = append(ct.Args, "--log-level=debug") },
	} {
		if resp := review(t, url, client, inject.PathNamespace, with(f)); resp.Allowed {
			t.Errorf("%s: allowed, patch %d bytes; want refused", name, len(resp.Patch))
		}
	}
}

func slicesDelete(s []string, drop func(string) bool) []string {
	var out []string
	for _, v := range s {
		if !drop(v) {
			out = append(out, v)
		}
	}
	return out
}
