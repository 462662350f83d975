package inject_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/portcullis/portcullis/inject"
)

// guardUpdate sends a Pod UPDATE review (old to new) to PathGuard.
func guardUpdate(t *testing.T, url string, client *http.Client, old, new []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	req := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "u1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "shop", Operation: admissionv1.Update, Object: runtime.RawExtension{Raw: new}, OldObject: runtime.RawExtension{Raw: old},
			UserInfo: authnUser(),
		},
	}
	body, _ := json.Marshal(req)
	resp, err := client.Post(url+inject.PathGuard, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", inject.PathGuard, resp.StatusCode, b)
	}
	var got admissionv1.AdmissionReview
	strict(t, b, &got)
	if got.Response == nil || got.Response.UID != "u1" {
		t.Fatalf("no response for uid u1: %s", b)
	}
	return got.Response
}

// TestWebhookGuardsInjectedPods: the webhook saw pods on CREATE only, and
// a pod's images and labels may change on UPDATE: anyone allowed to
// update pods in the namespace (the edit role) could swap the running
// sidecar's image for one that forwards everything to the app, or drop
// the portcullis.dev/sidecar label that the namespace's NetworkPolicy
// selects (opening the app's port), with no new pod for the injector to
// see. PathGuard refuses both; other updates pass.
func TestWebhookGuardsInjectedPods(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	in := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"a"}},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, in)
	change := edited(t, injected)
	for name, f := range map[string]func(p *corev1.Pod){
		"sidecar image": func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "evil/passthrough" },
		"sidecar label": func(p *corev1.Pod) { delete(p.Labels, "portcullis.dev/sidecar") },
	} {
		if resp := guardUpdate(t, url, client, injected, change(f)); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "sidecar") {
			t.Errorf("%s changed: allowed %v, status %+v; want refused", name, resp.Allowed, resp.Result)
		}
	}
	for name, f := range map[string]func(p *corev1.Pod){
		"app image":   func(p *corev1.Pod) { p.Spec.Containers[0].Image = "a:2" },
		"other label": func(p *corev1.Pod) { p.Labels["pod-template-hash"] = "x" },
	} {
		if resp := guardUpdate(t, url, client, injected, change(f)); !resp.Allowed || len(resp.Patch) != 0 {
			t.Errorf("%s changed: allowed %v, status %+v; want allowed unchanged", name, resp.Allowed, resp.Result)
		}
	}
}
