package inject_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookGuardsTheRunningSidecar: PathGuard compared the sidecar's
// image and nothing else of it, and the guard webhook was not called for
// pods/resize or pods/ephemeralcontainers. Through pods/resize (in-place
// resize, beta and on by default from 1.33) whoever may resize a pod
// lowered the running sidecar's limits below the floor the injector
// holds a pod's annotations to (a CPU-starved sidecar fails its liveness
// probe, and while it restarts the app can take its port); through
// pods/ephemeralcontainers a container targeting the sidecar shared its
// process namespace (its files, through /proc/<pid>/root: the etcd
// client key, the state) or mounted its volumes. The AdmissionReview of
// both is a Pod UPDATE carrying the whole pod. PathGuard now refuses a
// change of the sidecar container other than raising its resources, and
// a new ephemeral container targeting the sidecar or mounting its
// volumes; the deploy manifest sends it both subresources (checked in
// TestKustomizeBase).
func TestWebhookGuardsTheRunningSidecar(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	in := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"a"}},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, in)
	change := edited(t, injected)
	debug := func(target string, mounts ...string) func(p *corev1.Pod) {
		return func(p *corev1.Pod) {
			ec := corev1.EphemeralContainer{TargetContainerName: target}
			ec.Name, ec.Image = "debugger", "busybox"
			for _, m := range mounts {
				ec.VolumeMounts = append(ec.VolumeMounts, corev1.VolumeMount{Name: m, MountPath: "/x"})
			}
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, ec)
		}
	}
	for name, f := range map[string]func(p *corev1.Pod){
		"sidecar CPU limit lowered": func(p *corev1.Pod) {
			p.Spec.InitContainers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("1m")
		},
		"sidecar memory limit lowered": func(p *corev1.Pod) {
			p.Spec.InitContainers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("4Mi")
		},
		"sidecar CPU request lowered": func(p *corev1.Pod) {
			p.Spec.InitContainers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1m")
		},
		"ephemeral container targeting the sidecar":        debug(inject.ContainerName),
		"ephemeral container mounting the sidecar's state": debug("a", "portcullis-state"),
		"ephemeral container mounting the sidecar's key":   debug("", "portcullis-tls"),
	} {
		if resp := guardUpdate(t, url, client, injected, change(f)); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "sidecar") {
			t.Errorf("%s: allowed %v, status %+v; want refused", name, resp.Allowed, resp.Result)
		}
	}
	for name, f := range map[string]func(p *corev1.Pod){
		"sidecar memory limit raised": func(p *corev1.Pod) {
			p.Spec.InitContainers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("1Gi")
		},
		"app resized": func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m")}
		},
		"ephemeral container targeting the app": debug("a"),
	} {
		if resp := guardUpdate(t, url, client, injected, change(f)); !resp.Allowed || len(resp.Patch) != 0 {
			t.Errorf("%s: allowed %v, status %+v; want allowed unchanged", name, resp.Allowed, resp.Result)
		}
	}
}
