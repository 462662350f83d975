package inject_test

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookRefusesHostPortBesideABroughtSidecar: a hostPort on the
// port the sidecar forwards to is refused when the injector adds the
// sidecar (TestWebhookRefusesHostPortOnApp), but a pod that brought a
// copy of the injector's sidecar was only labelled (PathNamespace) or
// allowed (PathVerify, opted out): the node's port forwarded to the
// app's port on the pod IP, past the sidecar. Both paths now refuse it,
// naming the hostPort; the injected pod without it still passes.
func TestWebhookRefusesHostPortBesideABroughtSidecar(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	edit := func(optOut bool, f func(p *corev1.Pod)) []byte {
		var p corev1.Pod
		strict(t, injected, &p)
		if optOut {
			p.Annotations[inject.AnnotationInject] = "false"
		}
		f(&p)
		b, err := json.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hostPort := func(p *corev1.Pod) {
		for i, c := range p.Spec.Containers {
			for j, port := range c.Ports {
				if port.ContainerPort == 8081 {
					p.Spec.Containers[i].Ports[j].HostPort = 30081
					return
				}
			}
		}
		t.Fatalf("no container port 8081 in %s", injected)
	}
	for _, optOut := range []bool{false, true} {
		if resp := review(t, url, client, inject.PathVerify, edit(optOut, func(*corev1.Pod) {})); !resp.Allowed {
			t.Fatalf("opted out %v: the injected pod: refused %+v at %s; want allowed", optOut, resp.Result, inject.PathVerify)
		}
		pod := edit(optOut, hostPort)
		for _, path := range []string{inject.PathNamespace, inject.PathVerify} {
			if optOut && path == inject.PathNamespace {
				continue // opted out: the mutating webhook leaves it alone
			}
			resp := review(t, url, client, path, pod)
			if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "hostPort") {
				t.Errorf("opted out %v, %s: the brought sidecar with hostPort 30081 on the app's port 8081: allowed %v, patch %s, status %+v; want refused naming the hostPort",
					optOut, path, resp.Allowed, resp.Patch, resp.Result)
			}
		}
	}
}
