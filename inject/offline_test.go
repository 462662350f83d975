package inject_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/portcullis/portcullis/inject"
)

// documents splits a YAML stream (or a stream of JSON objects) into its
// documents, as JSON.
func documents(t *testing.T, stream []byte) [][]byte {
	t.Helper()
	var out [][]byte
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(stream), 4096)
	for {
		var doc json.RawMessage
		err := dec.Decode(&doc)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("cannot split the output: %v\n%s", err, stream)
		}
		if len(doc) > 0 && string(doc) != "null" {
			out = append(out, doc)
		}
	}
}

// podTemplate decodes a workload strictly into its k8s.io/api type and
// returns the pod it makes.
func podTemplate(t *testing.T, doc []byte) (string, *corev1.Pod) {
	t.Helper()
	var tm struct{ Kind string }
	if err := json.Unmarshal(doc, &tm); err != nil {
		t.Fatal(err)
	}
	if tm.Kind == "Pod" {
		pod := &corev1.Pod{}
		strict(t, doc, pod)
		return tm.Kind, pod
	}
	template, ok := templates[tm.Kind]
	if !ok {
		return tm.Kind, nil
	}
	pt := template(t, doc)
	return tm.Kind, &corev1.Pod{ObjectMeta: pt.ObjectMeta, Spec: pt.Spec}
}

// templates returns the pod template of a workload, by kind.
var templates = map[string]func(*testing.T, []byte) corev1.PodTemplateSpec{
	"Deployment":  decoded(func(w *appsv1.Deployment) corev1.PodTemplateSpec { return w.Spec.Template }),
	"StatefulSet": decoded(func(w *appsv1.StatefulSet) corev1.PodTemplateSpec { return w.Spec.Template }),
	"DaemonSet":   decoded(func(w *appsv1.DaemonSet) corev1.PodTemplateSpec { return w.Spec.Template }),
	"Job":         decoded(func(w *batchv1.Job) corev1.PodTemplateSpec { return w.Spec.Template }),
	"CronJob":     decoded(func(w *batchv1.CronJob) corev1.PodTemplateSpec { return w.Spec.JobTemplate.Spec.Template }),
}

// decoded returns a function that decodes a workload strictly as a W and
// returns its template.
func decoded[W any](template func(*W) corev1.PodTemplateSpec) func(*testing.T, []byte) corev1.PodTemplateSpec {
	return func(t *testing.T, doc []byte) corev1.PodTemplateSpec {
		t.Helper()
		var w W
		strict(t, doc, &w)
		return template(&w)
	}
}

const others = `# The Service in front of the app: passed through untouched.
apiVersion: v1
kind: Service
metadata:
  name: nginx
spec:
  selector: {app: nginx}
  ports:
  - port: 80
    targetPort: http
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: "on"
  when: 2026-01-01
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
spec:
  schedule: "0 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: report:1
            ports:
            - {name: http, containerPort: 8081}
`

// TestInjectEveryKind runs a multi-document manifest of every workload
// kind (the Kubernetes docs' examples, a CronJob) and other objects
// through Inject, in YAML and in JSON: every workload's pod gets the
// sidecar and decodes strictly into its k8s.io/api type; the Service and
// the ConfigMap come out as they went in (in YAML with their comments);
// injecting the output again changes nothing.
func TestInjectEveryKind(t *testing.T) {
	var in bytes.Buffer
	for _, f := range docsFiles(t) {
		if strings.Contains(f, "liveness") {
			continue // no port, or the sidecar's port: TestWebhookRefuses
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The docs' DaemonSet runs in kube-system, which is never
		// injected (TestInjectLeavesTheControlPlane).
		in.Write(bytes.Replace(b, []byte("namespace: kube-system"), []byte("namespace: logging"), 1))
		in.WriteString("---\n")
	}
	in.WriteString(others)
	inputs := documents(t, in.Bytes())
	for _, format := range []string{"yaml", "json"} {
		t.Run(format, func(t *testing.T) {
			var out bytes.Buffer
			if _, err := inject.Defaults().Inject(bytes.NewReader(in.Bytes()), &out, format); err != nil {
				t.Fatal(err)
			}
			if format == "yaml" && !strings.Contains(out.String(), "# The Service in front of the app") {
				t.Error("the Service's comment is gone")
			}
			docs := documents(t, out.Bytes())
			if len(docs) != len(inputs) {
				t.Fatalf("%d documents out, %d in", len(docs), len(inputs))
			}
			kinds := map[string]bool{}
			for i, doc := range docs {
				kind, pod := podTemplate(t, doc)
				kinds[kind] = true
				if pod == nil {
					if !sameJSON(t, doc, inputs[i]) {
						t.Errorf("%s changed:\n%s\nwant\n%s", kind, doc, inputs[i])
					}
					continue
				}
				sidecarOf(t, pod, false)
			}
			for _, k := range []string{"Pod", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Service", "ConfigMap"} {
				if !kinds[k] {
					t.Errorf("no %s in the output", k)
				}
			}
			var again bytes.Buffer
			if _, err := inject.Defaults().Inject(bytes.NewReader(out.Bytes()), &again, format); err != nil {
				t.Fatal(err)
			}
			for i, doc := range documents(t, again.Bytes()) {
				if !sameJSON(t, doc, docs[i]) {
					t.Errorf("second injection changed document %d", i+1)
				}
			}
		})
	}
}

// TestInjectJSONList: a JSON v1 List (kubectl get -o json) has each item
// injected, written as JSON or YAML.
func TestInjectJSONList(t *testing.T) {
	dep := readJSON(t, "testdata/k8s-docs/nginx-deployment.yaml")
	list := `{"apiVersion":"v1","kind":"List","items":[` + string(dep) + `,{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80}]}}]}`
	for _, format := range []string{"json", "yaml"} {
		var out bytes.Buffer
		if _, err := inject.Defaults().Inject(strings.NewReader(list), &out, format); err != nil {
			t.Fatal(err)
		}
		docs := documents(t, out.Bytes())
		if len(docs) != 1 {
			t.Fatalf("%s: %d documents, want 1", format, len(docs))
		}
		var got corev1.List
		strict(t, docs[0], &got)
		if len(got.Items) != 2 {
			t.Fatalf("%s: %d items, want 2", format, len(got.Items))
		}
		_, pod := podTemplate(t, got.Items[0].Raw)
		sidecarOf(t, pod, false)
		var svc corev1.Service
		strict(t, got.Items[1].Raw, &svc)
	}
}

// TestInjectOptOut: offline injection adds the sidecar unless the
// workload opts out.
func TestInjectOptOut(t *testing.T) {
	in := strings.Replace(string(mustRead(t, "testdata/k8s-docs/nginx-deployment.yaml")), "      labels:\n        app: nginx\n    spec:",
		"      labels:\n        app: nginx\n      annotations:\n        portcullis.dev/inject: \"false\"\n    spec:", 1)
	var out bytes.Buffer
	if _, err := inject.Defaults().Inject(strings.NewReader(in), &out, "yaml"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "portcullis:dev") {
		t.Errorf("opted-out Deployment was injected:\n%s", out.String())
	}
}

// TestInjectErrors: malformed input and a port clash name the document.
func TestInjectErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"yaml", "kind: Pod\n---\nkind: [", "document 2"},
		{"clash", string(mustRead(t, "testdata/k8s-docs/tcp-liveness-readiness.yaml")), `Pod "goproxy"`},
	} {
		_, err := inject.Defaults().Inject(strings.NewReader(tc.in), io.Discard, "yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming %s", tc.name, err, tc.want)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameJSON reports whether two JSON documents hold the same value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// TestInjectAliasBomb: a document whose aliases expand to billions of
// values is refused, not expanded.
func TestInjectAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	_, err := inject.Defaults().Inject(strings.NewReader(b.String()), io.Discard, "yaml")
	if err == nil || !strings.Contains(err.Error(), "aliases") {
		t.Errorf("err = %v, want the expansion refused", err)
	}
}

// TestInjectLeavesTheControlPlane: the webhooks never see the pods of
// the control plane's and the system's namespaces, but `portcullis
// inject` gave every workload of a manifest the sidecar, so `kubectl
// kustomize deploy/kubernetes | portcullis inject -f -` made etcd, the
// collector and the injector wait on sidecars that need them. Workloads
// of inject.ExcludedNamespaces are left as they are, with a warning
// naming the namespace; one elsewhere is injected.
func TestInjectLeavesTheControlPlane(t *testing.T) {
	base := string(mustRead(t, "testdata/k8s-docs/nginx-deployment.yaml"))
	in := strings.Replace(base, "  name: nginx-deployment\n", "  name: nginx-deployment\n  namespace: shop\n", 1)
	if in == base {
		t.Fatal("cannot place the Deployment in a namespace")
	}
	for _, ns := range inject.ExcludedNamespaces {
		in += "---\n" + strings.Replace(base, "  name: nginx-deployment\n", "  name: nginx-deployment\n  namespace: "+ns+"\n", 1)
	}
	var out bytes.Buffer
	warnings, err := inject.Defaults().Inject(strings.NewReader(in), &out, "yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := documents(t, out.Bytes())
	for i, doc := range docs {
		injected := bytes.Contains(doc, []byte("portcullis:dev"))
		if want := i == 0; injected != want {
			t.Errorf("document %d: injected %v, want %v:\n%s", i+1, injected, want, doc)
		}
	}
	for _, ns := range inject.ExcludedNamespaces {
		if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, `namespace "`+ns+`"`) }) {
			t.Errorf("no warning names namespace %s: %q", ns, warnings)
		}
	}
}
