package inject_test

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookNotFooledByASidecarMadeToRestart: a sidecar the pod brought
// counted as the injector's whatever its probes, resources and hooks.
// The kubelet restarts a container whose liveness or startup probe
// fails, or whose postStart hook fails, and one killed for memory, and
// while the sidecar restarts its port is free: an app binding
// 0.0.0.0:8080 then keeps it (the sidecar, back, cannot listen) and
// answers the Service itself. A native sidecar without its startup probe
// counts as started at once, so the app starts before it listens. The
// limits floor held the annotations to (TestWebhookRefusesStarvingLimits)
// did not hold for a sidecar brought along. Each of these is now
// refused; the sidecars the injector writes (the API server's defaults
// filled in) still count.
func TestWebhookNotFooledByASidecarMadeToRestart(t *testing.T) {
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	for _, legacy := range []bool{false, true} {
		c := inject.Defaults()
		c.Legacy = legacy
		url, client := webhook(t, c)
		_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
		edit := func(f func(sc *corev1.Container)) []byte {
			var p corev1.Pod
			strict(t, injected, &p)
			sc := &p.Spec.InitContainers
			if legacy {
				sc = &p.Spec.Containers
			}
			f(&(*sc)[0])
			b, err := json.Marshal(&p)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		defaulted := edit(func(sc *corev1.Container) { // as the API server fills it in
			for _, p := range []*corev1.Probe{sc.LivenessProbe, sc.ReadinessProbe, sc.StartupProbe} {
				p.TimeoutSeconds, p.SuccessThreshold, p.HTTPGet.Scheme = 1, 1, corev1.URISchemeHTTP
			}
			sc.TerminationMessagePath, sc.TerminationMessagePolicy = "/dev/termination-log", corev1.TerminationMessageReadFile
		})
		if resp := review(t, url, client, inject.PathVerify, defaulted); !resp.Allowed {
			t.Errorf("legacy %v: the injector's sidecar, defaulted: refused %+v", legacy, resp.Result)
		}
		cases := map[string][]byte{
			"liveness probe of a missing path": edit(func(sc *corev1.Container) { sc.LivenessProbe.HTTPGet.Path = "/nope" }),
			"liveness probe of another port":   edit(func(sc *corev1.Container) { sc.LivenessProbe.HTTPGet.Port = intstr.FromInt32(1) }),
			"liveness probe timing out": edit(func(sc *corev1.Container) {
				sc.LivenessProbe.Exec = nil
				sc.LivenessProbe.HTTPGet = nil
				sc.LivenessProbe.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(1)}
			}),
			"startup probe failing": edit(func(sc *corev1.Container) { sc.StartupProbe.HTTPGet.Path = "/nope" }),
			"memory limit of 4Mi":   edit(func(sc *corev1.Container) { sc.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("4Mi") }),
			"CPU limit of 1m":       edit(func(sc *corev1.Container) { sc.Resources.Limits[corev1.ResourceCPU] = resource.MustParse("1m") }),
			"a postStart hook of its own": edit(func(sc *corev1.Container) {
				sc.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/portcullis", "nope"}}}}
			}),
		}
		if !legacy {
			cases["no startup probe"] = edit(func(sc *corev1.Container) { sc.StartupProbe = nil })
		} else {
			cases["postStart hook giving up at once"] = edit(func(sc *corev1.Container) { sc.Lifecycle.PostStart.Exec.Command[3] = "1ns" })
			cases["postStart hook of another binary"] = edit(func(sc *corev1.Container) { sc.Lifecycle.PostStart.Exec.Command[0] = "/bin/false" })
		}
		for name, pod := range cases {
			for _, path := range []string{inject.PathNamespace, inject.PathVerify} {
				if resp := review(t, url, client, path, pod); resp.Allowed {
					t.Errorf("legacy %v, %s, sidecar brought with %s: allowed; want refused", legacy, path, name)
				}
			}
		}
	}
}
