package inject_test

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookVerifyHoldsAnOptedOutPodToWhatInjectionChecks: in a
// labelled namespace, a pod annotated portcullis.dev/inject: "false" is
// left as it is by the mutating webhook (Config.Pod returns before it
// looks at the sidecar), so a pod that brought a copy of the injector's
// sidecar that way met only PathVerify, which asked whether the sidecar
// was there and nothing else. Three things Config.Pod refuses or
// repairs for a pod that brought the sidecar went through: no label
// portcullis.dev/sidecar (the namespace's NetworkPolicy then selects
// none of the pod, and a client reaches the app's port by number);
// hostNetwork (the app on the node's addresses, no NetworkPolicy); and,
// in legacy mode, an init container with restartPolicy Always that
// starts before the sidecar and can take its port. Each is now refused
// at PathVerify; the pod the injector writes still passes.
func TestWebhookVerifyHoldsAnOptedOutPodToWhatInjectionChecks(t *testing.T) {
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	edit := func(pod []byte, f func(p *corev1.Pod)) []byte {
		var p corev1.Pod
		strict(t, pod, &p)
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[inject.AnnotationInject] = "false"
		f(&p)
		b, err := json.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, legacy := range []bool{false, true} {
		c := inject.Defaults()
		c.Legacy = legacy
		url, client := webhook(t, c)
		_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
		if resp := review(t, url, client, inject.PathVerify, edit(injected, func(*corev1.Pod) {})); !resp.Allowed {
			t.Errorf("legacy %v: the injected pod, annotated opted out: refused %+v; want allowed", legacy, resp.Result)
		}
		cases := map[string][]byte{
			"without the label " + inject.LabelSidecar: edit(injected, func(p *corev1.Pod) { delete(p.Labels, inject.LabelSidecar) }),
			"with hostNetwork":                         edit(injected, func(p *corev1.Pod) { p.Spec.HostNetwork = true }),
		}
		if legacy {
			cases["after a restartable init container"] = edit(injected, func(p *corev1.Pod) {
				p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: "squatter", Image: "a", RestartPolicy: new(corev1.ContainerRestartPolicyAlways)})
			})
		}
		for name, pod := range cases {
			if resp := review(t, url, client, inject.PathNamespace, pod); !resp.Allowed || len(resp.Patch) != 0 {
				t.Fatalf("legacy %v, %s: the mutating webhook: allowed %v, patch %s; want allowed unchanged (opted out)", legacy, name, resp.Allowed, resp.Patch)
			}
			if resp := review(t, url, client, inject.PathVerify, pod); resp.Allowed {
				t.Errorf("legacy %v, opted out, the sidecar brought %s: allowed at %s; want refused", legacy, name, inject.PathVerify)
			}
		}
	}
}
