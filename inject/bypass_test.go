package inject_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/portcullis/portcullis/inject"
)

// findPort resolves a Service's named targetPort in pod as the endpoints
// controller does (k8s.io/kubernetes/pkg/api/v1/pod.FindPort, 1.32+):
// the regular containers first, then the native sidecars (init
// containers with restartPolicy Always). It returns the container and
// port, or "" and 0.
func findPort(pod *corev1.Pod, name string) (string, int32) {
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
				return c.Name, p.ContainerPort
			}
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			continue
		}
		for _, p := range c.Ports {
			if p.Name == name && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
				return c.Name, p.ContainerPort
			}
		}
	}
	return "", 0
}

// TestWebhookDuplicatePortName: port names are unique per container, not
// per pod, so two containers may each have a port named http. Renaming
// only the first left the second named http, and a Service with
// targetPort: http resolves the regular containers' ports before a
// native sidecar's: it reached the second container directly, past the
// sidecar. Such a pod is refused, naming both containers.
func TestWebhookDuplicatePortName(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	in := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"api"},
		"spec":{"containers":[{"name":"api","image":"api:1","ports":[{"name":"http","containerPort":8081}]},
		{"name":"admin","image":"admin:1","ports":[{"name":"http","containerPort":9000}]}]}}`)
	resp := review(t, url, client, inject.PathNamespace, in)
	if resp.Allowed {
		if len(resp.Patch) == 0 {
			t.Fatalf("allowed without the sidecar (warnings %q)", resp.Warnings)
		}
		var pod corev1.Pod
		strict(t, applyPatch(t, in, resp.Patch), &pod)
		ct, port := findPort(&pod, "http")
		t.Fatalf("allowed: a Service with targetPort http reaches container %q port %d, want refused (or the sidecar)", ct, port)
	}
	if resp.Result == nil || !strings.Contains(resp.Result.Message, `"api"`) || !strings.Contains(resp.Result.Message, `"admin"`) {
		t.Errorf("denied with %+v, want the reason naming both containers", resp.Result)
	}
}

// TestWebhookNotFooledIntoSkipping: "already injected" is decided by the
// sidecar being there, not by what a pod's author can write. The status
// annotation alone left a pod in a labelled namespace (fail closed)
// without the sidecar, with a log line saying it was already injected;
// an app container that happens to be named portcullis did the same,
// silently. The first is injected, the second refused with the reason.
func TestWebhookNotFooledIntoSkipping(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	annotated := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{"portcullis.dev/status":"injected"}},
		"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	resp := review(t, url, client, inject.PathNamespace, annotated)
	if !resp.Allowed || len(resp.Patch) == 0 {
		t.Errorf("status annotation without a sidecar: allowed %v, patch %d bytes, status %+v; want injected", resp.Allowed, len(resp.Patch), resp.Result)
	} else {
		var pod corev1.Pod
		strict(t, applyPatch(t, annotated, resp.Patch), &pod)
		sidecarOf(t, &pod, false)
	}
	named := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
		"spec":{"containers":[{"name":"portcullis","image":"nginx","ports":[{"name":"http","containerPort":8081}]}]}}`)
	resp = review(t, url, client, inject.PathNamespace, named)
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `"portcullis"`) {
		t.Errorf("app container named portcullis: allowed %v, patch %d bytes, status %+v; want refused naming the container", resp.Allowed, len(resp.Patch), resp.Result)
	}
}

// TestWebhookRefusesInjectTypos: portcullis.dev/inject is "true" or
// "false". Any other value ("True", "yes", "enabled") at /inject left the
// pod its author meant to protect running without the sidecar, with no
// warning; in a labelled namespace "False" or "no" injected a pod its
// author meant to opt out. Both are refused with the reason, as the other
// malformed annotations are.
func TestWebhookRefusesInjectTypos(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	for _, tc := range []struct{ path, meta string }{
		{inject.PathInject, `"annotations":{"portcullis.dev/inject":"True"}`},
		{inject.PathInject, `"annotations":{"portcullis.dev/inject":"yes"}`},
		{inject.PathInject, `"labels":{"portcullis.dev/inject":"enabled"}`},
		{inject.PathNamespace, `"annotations":{"portcullis.dev/inject":"False"}`},
		{inject.PathNamespace, `"labels":{"portcullis.dev/inject":""}`},
	} {
		pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p",` + tc.meta + `},
			"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
		resp := review(t, url, client, tc.path, pod)
		if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "portcullis.dev/inject") {
			t.Errorf("%s %s: allowed %v, patch %d bytes, status %+v; want refused naming portcullis.dev/inject", tc.path, tc.meta, resp.Allowed, len(resp.Patch), resp.Result)
		}
	}
}

// TestWebhookRefusesHostPortOnApp: a hostPort on the port the sidecar
// protects stayed on the app's (renamed) port: the node's port forwarded
// to the app's port on the pod IP, past the sidecar (reached whenever the
// app listens on more than loopback). Such a pod is refused with the
// reason.
func TestWebhookRefusesHostPortOnApp(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	for name, ports := range map[string]string{
		"named":   `[{"name":"http","containerPort":8081,"hostPort":30081}]`,
		"unnamed": `[{"containerPort":8081,"hostPort":30081}]`,
	} {
		pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":` + ports + `}]}}`)
		resp := review(t, url, client, inject.PathNamespace, pod)
		if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "hostPort") {
			t.Errorf("%s: allowed %v, patch %d bytes, status %+v; want refused naming the hostPort", name, resp.Allowed, len(resp.Patch), resp.Result)
		}
	}
}

// TestWebhookFailsClosedWhenItCannotInject: a pod that asked for the
// sidecar (its namespace's label, or its own "true") but cannot have it
// is refused, not admitted bare with a warning. Declaring container ports
// is optional in Kubernetes (an undeclared port is reachable all the
// same, and a Service can target it by number), so leaving out `ports:`,
// or asking for hostNetwork, started a pod without the sidecar in a
// namespace that requires it, with nothing an admission policy on the
// opt-out annotation could see. Opting out stays the way to run such a
// pod there.
func TestWebhookFailsClosedWhenItCannotInject(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	for _, tc := range []struct{ name, path, meta, spec string }{
		{"no ports, labelled namespace", inject.PathNamespace, ``, `{"containers":[{"name":"a","image":"a"}]}`},
		{"no ports, pod opted in", inject.PathInject, `,"annotations":{"portcullis.dev/inject":"true"}`, `{"containers":[{"name":"a","image":"a"}]}`},
		{"hostNetwork", inject.PathNamespace, ``, `{"hostNetwork":true,"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}`},
	} {
		pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"` + tc.meta + `},"spec":` + tc.spec + `}`)
		resp := review(t, url, client, tc.path, pod)
		if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `portcullis.dev/inject: "false"`) {
			t.Errorf("%s: allowed %v, patch %d bytes, status %+v; want refused, naming the opt-out", tc.name, resp.Allowed, len(resp.Patch), resp.Result)
		}
		optedOut := bytes.Replace(pod, []byte(`"name":"p"`), []byte(`"name":"p","annotations":{"portcullis.dev/inject":"false"}`), 1)
		if tc.meta != "" {
			continue
		}
		if resp := review(t, url, client, tc.path, optedOut); !resp.Allowed || len(resp.Patch) != 0 {
			t.Errorf("%s, opted out: allowed %v, patch %d bytes; want allowed unchanged", tc.name, resp.Allowed, len(resp.Patch))
		}
	}
}

// TestWebhookNotFooledByAForgedSidecar: a pod's author can write a
// container named portcullis running `sidecar` from an image of their
// own (one that forwards everything to the app). It counted as already
// injected and the pod started without the real sidecar. A container of
// that name is the sidecar only with the configured image (or one the
// configuration accepts: TestWebhookRefusesAnOlderSidecarImage); another
// is refused. Also: renaming the app's
// port to http-app when a container already has a port of that name
// made the API server refuse the pod with a message about a duplicate
// port it never sent; the webhook now refuses it with the reason.
func TestWebhookNotFooledByAForgedSidecar(t *testing.T) {
	cfg := inject.Defaults()
	url, client := webhook(t, cfg)
	// The injector's own sidecar (TestWebhookNotFooledBySidecarOfItsOwnFlags,
	// TestWebhookNotFooledByASidecarWiredElsewhere), of another image.
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	sidecar := func(image string) []byte {
		return bytes.Replace(injected, []byte(`"image":"`+cfg.Image+`"`), []byte(`"image":"`+image+`"`), 1)
	}
	resp := review(t, url, client, inject.PathNamespace, sidecar("evil.example/passthrough:1"))
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "evil.example/passthrough:1") {
		t.Errorf("forged sidecar image: allowed %v, patch %d bytes, status %+v; want refused naming the image", resp.Allowed, len(resp.Patch), resp.Result)
	}
	if resp := review(t, url, client, inject.PathNamespace, sidecar(cfg.Image)); !resp.Allowed || len(resp.Patch) != 0 {
		t.Errorf("sidecar of image %s: allowed %v, patch %d bytes, status %+v; want left alone", cfg.Image, resp.Allowed, len(resp.Patch), resp.Result)
	}

	taken := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[
		{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081},{"name":"http-app","containerPort":9000}]}]}}`)
	if resp := review(t, url, client, inject.PathNamespace, taken); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `"http-app"`) {
		t.Errorf("port name http-app taken: allowed %v, patch %d bytes, status %+v; want refused naming it", resp.Allowed, len(resp.Patch), resp.Result)
	}
}

// TestWebhookRefusesPodsOfAMislabelledNamespace: PathNamespaceLabel,
// called for a namespace whose portcullis.dev/inject label is neither
// "true" nor "false", refuses every pod with the reason and the fix.
func TestWebhookRefusesPodsOfAMislabelledNamespace(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	resp := review(t, url, client, inject.PathNamespaceLabel, pod)
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "portcullis.dev/inject") || !strings.Contains(resp.Result.Message, "--overwrite") {
		t.Errorf("pod of a mislabelled namespace: allowed %v, status %+v; want refused naming the label and the fix", resp.Allowed, resp.Result)
	}
}

// TestWebhookRefusesAnOlderSidecarImage: a sidecar a pod brings counted as
// the injector's from any tag or digest of the configured image's
// repository, so a pod's author could run an older release, without the
// fixes since, as its sidecar. Only the configured image counts, and the
// images the configuration accepts (acceptedImages: a workload injected
// offline before an upgrade, while it rolls out), each exactly.
func TestWebhookRefusesAnOlderSidecarImage(t *testing.T) {
	base := inject.Defaults()
	repo, _, _ := strings.Cut(base.Image, ":")
	older, pinned := repo+":0.9.0", repo+"@sha256:"+strings.Repeat("ab", 32)
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	for _, accepted := range [][]string{nil, {older}} {
		cfg := base
		cfg.AcceptedImages = accepted
		url, client := webhook(t, cfg)
		_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
		sidecar := func(image string) []byte {
			return bytes.Replace(injected, []byte(`"image":"`+cfg.Image+`"`), []byte(`"image":"`+image+`"`), 1)
		}
		for _, image := range []string{older, pinned, repo + ":0.9.0-rc1", repo} {
			want := slices.Contains(accepted, image)
			for _, path := range []string{inject.PathNamespace, inject.PathVerify} {
				resp := review(t, url, client, path, sidecar(image))
				if resp.Allowed != want || len(resp.Patch) != 0 {
					t.Errorf("acceptedImages %q, %s, sidecar of image %s: allowed %v, patch %d bytes; want allowed %v, unchanged", accepted, path, image, resp.Allowed, len(resp.Patch), want)
				}
				if !want && (resp.Result == nil || !strings.Contains(resp.Result.Message, image) || !strings.Contains(resp.Result.Message, "acceptedImages")) {
					t.Errorf("acceptedImages %q, %s, sidecar of image %s: status %+v; want refused naming the image and acceptedImages", accepted, path, image, resp.Result)
				}
			}
		}
	}
	bad := base
	bad.AcceptedImages = []string{""}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "acceptedImages[0]") {
		t.Errorf("acceptedImages [\"\"]: Validate %v, want an error naming acceptedImages[0]", err)
	}
}
