package inject_test

import (
	"bytes"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/portcullis/portcullis/inject"
)

// Finding (review92): the label portcullis.dev/listen-port is the
// injector's: it writes it on a pod whose sidecar moved and removes it
// from every other (the NetworkPolicies select by it). A Deployment whose
// selector named it came out of `portcullis inject` with a template its
// own selector no longer selects (the API server refuses it: "selector
// does not match template labels"), or, where they still matched, with an
// immutable selector tied to a label the next injection may change.
// `portcullis inject` now refuses such a workload, naming the label.

// TestInjectRefusesASelectorOnTheListenPortLabel injects Deployments
// selecting on the label, by matchLabels and by matchExpressions: each is
// refused naming it, or (before) its output must at least be a Deployment
// whose selector selects its template.
func TestInjectRefusesASelectorOnTheListenPortLabel(t *testing.T) {
	for name, selector := range map[string]string{
		"matchLabels":      `matchLabels: {app: a, portcullis.dev/listen-port: "15001"}`,
		"matchExpressions": `{matchLabels: {app: a}, matchExpressions: [{key: portcullis.dev/listen-port, operator: In, values: ["15001"]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if strings.HasPrefix(selector, "match") {
				selector = "{" + selector + "}"
			}
			manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: hr, namespace: shop}
spec:
  selector: ` + selector + `
  template:
    metadata:
      labels: {app: a, portcullis.dev/listen-port: "15001"}
    spec:
      containers:
      - name: a
        image: a
        ports: [{name: http, containerPort: 8081}]
`
			var out bytes.Buffer
			_, err := inject.Defaults().Inject(strings.NewReader(manifest), &out, "json")
			if err != nil {
				if !strings.Contains(err.Error(), inject.LabelListenPort) || !strings.Contains(err.Error(), "selector") {
					t.Errorf("refused with %q; want the reason to name the selector and %s", err, inject.LabelListenPort)
				}
				return
			}
			var d appsv1.Deployment
			strict(t, out.Bytes(), &d)
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			if err != nil {
				t.Fatal(err)
			}
			if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("injected without a word, the Deployment's selector %v no longer selects its template's labels %v (the API server refuses it); want it refused naming %s",
					sel, d.Spec.Template.Labels, inject.LabelListenPort)
			} else {
				t.Errorf("injected without a word, a Deployment whose immutable selector names %s, the injector's label; want it refused", inject.LabelListenPort)
			}
		})
	}
}
