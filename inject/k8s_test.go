package inject_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	strictjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// The tests hold what the injector writes to the Kubernetes API types:
// every object decodes strictly (sigs.k8s.io/json, as the API server does
// for field validation Strict: unknown, duplicate or mis-cased fields are
// errors) into its k8s.io/api type, and patches are applied by
// evanphx/json-patch, the RFC 6902 implementation the API server uses.

// strict decodes data into v, failing the test on any unknown, duplicate
// or mis-cased field.
func strict(t *testing.T, data []byte, v any) {
	t.Helper()
	strictErrs, err := strictjson.UnmarshalStrict(data, v)
	if err != nil {
		t.Fatalf("cannot decode %T: %v\n%s", v, err, data)
	}
	if len(strictErrs) > 0 {
		t.Fatalf("strict decoding of %T: %v\n%s", v, strictErrs, data)
	}
}

// readJSON reads a YAML or JSON file as JSON.
func readJSON(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return readJSONBytes(t, b)
}

func readJSONBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return j
}

// applyPatch applies an RFC 6902 patch to doc.
func applyPatch(t *testing.T, doc, patch []byte) []byte {
	t.Helper()
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatalf("cannot decode the JSONPatch: %v\n%s", err, patch)
	}
	out, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("cannot apply the JSONPatch: %v\n%s", err, patch)
	}
	return out
}

// docsPods are the Kubernetes docs' example pods (testdata/k8s-docs) as
// pods: a workload's template with its kind's name.
func docsFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/k8s-docs/*.yaml")
	if err != nil || len(files) < 6 {
		t.Fatalf("testdata/k8s-docs: %v files, %v", len(files), err)
	}
	return files
}

// sidecarOf returns the injected container (native: the first init
// container; legacy: the first container) and checks what every injected
// pod has.
func sidecarOf(t *testing.T, pod *corev1.Pod, legacy bool) corev1.Container {
	t.Helper()
	list := pod.Spec.InitContainers
	if legacy {
		list = pod.Spec.Containers
	}
	if len(list) == 0 || list[0].Name != "portcullis" {
		t.Fatalf("first container is not portcullis: %+v", list)
	}
	c := list[0]
	if got := pod.Annotations["portcullis.dev/status"]; got != "injected" {
		t.Errorf("annotation portcullis.dev/status = %q, want injected", got)
	}
	if got := pod.Labels["portcullis.dev/sidecar"]; got != "injected" {
		t.Errorf("label portcullis.dev/sidecar = %q, want injected", got)
	}
	checkSecurityContext(t, c.SecurityContext)
	switch {
	case !legacy && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways):
		t.Errorf("native sidecar restartPolicy = %v, want Always", c.RestartPolicy)
	case legacy && c.RestartPolicy != nil:
		t.Errorf("legacy sidecar restartPolicy = %v, want none", *c.RestartPolicy)
	}
	checkVolumes(t, pod, c)
	return c
}

func checkSecurityContext(t *testing.T, sc *corev1.SecurityContext) {
	t.Helper()
	if sc == nil {
		t.Fatal("no securityContext")
	}
	switch {
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("runAsNonRoot is not true")
	case sc.RunAsUser == nil || *sc.RunAsUser == 0:
		t.Error("runAsUser is root or unset")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem is not true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation is not false")
	case sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0:
		t.Errorf("capabilities = %+v, want drop [ALL]", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("seccompProfile = %+v, want RuntimeDefault", sc.SeccompProfile)
	}
}

// checkVolumes checks that every mount of the sidecar has its volume, and
// that the spool lives on an emptyDir (it survives a container restart).
func checkVolumes(t *testing.T, pod *corev1.Pod, c corev1.Container) {
	t.Helper()
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			t.Errorf("mount %q has no volume", m.Name)
		}
		if m.MountPath == "/var/lib/portcullis" && v.EmptyDir == nil {
			t.Errorf("state volume %q is not an emptyDir: %+v", m.Name, v)
		}
	}
	if !hasArg(c, "--spool=/var/lib/portcullis/spool") {
		t.Errorf("spool is not on the state volume: %v", c.Args)
	}
}

func hasArg(c corev1.Container, arg string) bool {
	for _, a := range c.Args {
		if a == arg {
			return true
		}
	}
	return false
}

// argValue returns the value of --name=value among c's args.
func argValue(c corev1.Container, name string) string {
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// podFromTemplate makes a Pod of a workload's pod template, as the
// workload's controller does.
func podFromTemplate(t testing.TB, obj []byte) []byte {
	t.Helper()
	var w struct {
		Kind string `json:"kind"`
		Spec struct {
			Template    map[string]any `json:"template"`
			JobTemplate struct {
				Spec struct {
					Template map[string]any `json:"template"`
				} `json:"spec"`
			} `json:"jobTemplate"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(obj, &w); err != nil {
		t.Fatal(err)
	}
	tmpl := w.Spec.Template
	switch w.Kind {
	case "Pod":
		return obj
	case "CronJob":
		tmpl = w.Spec.JobTemplate.Spec.Template
	}
	tmpl["apiVersion"], tmpl["kind"] = "v1", "Pod"
	b, err := yaml.Marshal(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(j)
}

func authnUser() authnv1.UserInfo {
	return authnv1.UserInfo{Username: "system:serviceaccount:kube-system:replicaset-controller"}
}
