package inject_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/portcullis/portcullis/inject"
)

// openTo reports whether the NetworkPolicies pols admit TCP port to a
// pod with the labels podLabels from a pod of its own namespace outside
// monitoring (no namespace labels matched but the namespace's own). As
// Kubernetes does: a pod no policy selects is open on every port, and the
// rules of every policy selecting it add up.
func openTo(t *testing.T, pols []networkingv1.NetworkPolicy, podLabels map[string]string, port int) bool {
	t.Helper()
	selected := false
	for _, p := range pols {
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		if err != nil {
			t.Fatalf("policy %s: %v", p.Name, err)
		}
		if !sel.Matches(labels.Set(podLabels)) {
			continue
		}
		selected = true
		for _, rule := range p.Spec.Ingress {
			fromAnyone := len(rule.From) == 0
			for _, peer := range rule.From {
				fromAnyone = fromAnyone || peer.NamespaceSelector == nil && peer.IPBlock == nil && peer.PodSelector != nil && len(peer.PodSelector.MatchLabels) == 0 && len(peer.PodSelector.MatchExpressions) == 0
			}
			portMatch := len(rule.Ports) == 0
			for _, rp := range rule.Ports {
				portMatch = portMatch || rp.Port != nil && rp.Port.IntValue() == port
			}
			if fromAnyone && portMatch {
				return true
			}
		}
	}
	return !selected
}

// TestNetworkPoliciesOpenOnlyTheSidecarsPort: the base's policy
// portcullis-sidecar admitted 8080 to every injected pod, and
// NetworkPolicies add up: on a pod whose sidecar the annotation
// portcullis.dev/listen-port moved to 9090 (a port of listenPorts), 8080
// stayed open whatever policy the namespace added for 9090, and the app
// listening there on every address was reached past the sidecar. The
// injector now labels such a pod portcullis.dev/listen-port: "9090";
// portcullis-sidecar admits 8080 only to pods without the label, and
// portcullis-sidecar-moved admits nothing but the admin port from
// monitoring to those with it, until the namespace admits their port.
// The label is the injector's: one the author wrote is removed, a
// brought sidecar's must match its --listen, and an update cannot change
// it.
func TestNetworkPoliciesOpenOnlyTheSidecarsPort(t *testing.T) {
	var pols []networkingv1.NetworkPolicy
	for _, doc := range kustomize(t, base) {
		var o object
		if err := json.Unmarshal(doc, &o); err != nil {
			t.Fatal(err)
		}
		if o.Kind == "NetworkPolicy" && o.Metadata.Namespace == "shop" {
			var p networkingv1.NetworkPolicy
			strict(t, doc, &p)
			pols = append(pols, p)
		}
	}
	cfg := inject.Defaults()
	cfg.ListenPorts = []int{9090}
	url, client := webhook(t, cfg)
	pod := func(meta string) []byte {
		return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"` + meta + `},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	}
	moved, movedJSON, _ := injectPod(t, url, client, inject.PathNamespace, pod(`,"annotations":{"portcullis.dev/listen-port":"9090"}`))
	if openTo(t, pols, moved.Labels, 8080) {
		t.Errorf("a pod whose sidecar listens on 9090 (labels %v) is open on 8080, where its app can listen past the sidecar; want only the admin port open", moved.Labels)
	}
	if openTo(t, pols, moved.Labels, 8081) {
		t.Errorf("a pod whose sidecar listens on 9090 (labels %v) is open on its app's port 8081", moved.Labels)
	}
	plain, plainJSON, _ := injectPod(t, url, client, inject.PathNamespace, pod(`,"labels":{"portcullis.dev/listen-port":"9090"}`))
	if _, ok := plain.Labels[inject.LabelListenPort]; ok || !openTo(t, pols, plain.Labels, 8080) || openTo(t, pols, plain.Labels, 9090) {
		t.Errorf("a pod whose sidecar listens on 8080, labelled listen-port 9090 by its author: labels %v, 8080 open %v, 9090 open %v; want the label removed, 8080 open, 9090 not",
			plain.Labels, openTo(t, pols, plain.Labels, 8080), openTo(t, pols, plain.Labels, 9090))
	}

	// The label is the injector's, on a sidecar brought and on update.
	for _, tc := range []struct {
		name string
		pod  []byte
	}{
		{"moved, its label removed", relabel(t, movedJSON, "")},
		{"on 8080, labelled 9090", relabel(t, plainJSON, "9090")},
	} {
		if bytes.Equal(tc.pod, movedJSON) || bytes.Equal(tc.pod, plainJSON) {
			t.Fatalf("%s: the label was not edited in %s", tc.name, tc.pod)
		}
		for _, path := range []string{inject.PathVerify, inject.PathSecrets} {
			if resp := review(t, url, client, path, tc.pod); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, inject.LabelListenPort) {
				t.Errorf("%s: a sidecar brought %s: allowed %v, status %+v; want refused naming the label", path, tc.name, resp.Allowed, resp.Result)
			}
		}
		if resp := review(t, url, client, inject.PathNamespace, tc.pod); !resp.Allowed || len(resp.Patch) == 0 {
			t.Errorf("%s: a sidecar brought %s: allowed %v, patch %d bytes; want the label set right", inject.PathNamespace, tc.name, resp.Allowed, len(resp.Patch))
		}
	}
	for _, tc := range []struct {
		name     string
		old, new []byte
	}{
		{"dropping the label of a moved pod", movedJSON, relabel(t, movedJSON, "")},
		{"adding the label to a pod on 8080", plainJSON, relabel(t, plainJSON, "9090")},
	} {
		if resp := guardUpdate(t, url, client, tc.old, tc.new); resp.Allowed {
			t.Errorf("guard, %s: allowed; want refused", tc.name)
		}
	}
}

// relabel returns pod with its label portcullis.dev/listen-port set to
// port, or removed for "".
func relabel(t *testing.T, pod []byte, port string) []byte {
	t.Helper()
	var p corev1.Pod
	strict(t, pod, &p)
	if port == "" {
		delete(p.Labels, inject.LabelListenPort)
	} else {
		p.Labels[inject.LabelListenPort] = port
	}
	out, err := json.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
