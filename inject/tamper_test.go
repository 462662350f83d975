package inject_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookRefusesMountsOfTheSidecarsVolumes: a pod's author may name
// the sidecar's volumes in the app's volumeMounts before they exist (the
// API server validates the pod after the injector added them), and the
// pod was injected: the app shared the sidecar's state directory, where
// it could plant the last-known-good policy the sidecar serves while
// etcd is unreachable and rewrite or drop the audit spool before the
// collector has it. Such a pod is refused, naming the container and the
// volume, whether the sidecar is to be added or is already there.
func TestWebhookRefusesMountsOfTheSidecarsVolumes(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	for _, vol := range []string{"portcullis-state", "portcullis-token"} {
		for _, key := range []string{"containers", "initContainers"} {
			ct := `{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}],"volumeMounts":[{"name":"` + vol + `","mountPath":"/x"}]}`
			spec := `"containers":[` + ct + `]`
			if key == "initContainers" {
				spec = `"initContainers":[{"name":"setup","image":"a","volumeMounts":[{"name":"` + vol + `","mountPath":"/x","subPath":"state"}]}],` +
					`"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]`
			}
			pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{` + spec + `}}`)
			resp := review(t, url, client, inject.PathNamespace, pod)
			if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `"`+vol+`"`) {
				t.Errorf("%s mounting %s: allowed %v, patch %d bytes, status %+v; want refused naming the volume", key, vol, resp.Allowed, len(resp.Patch), resp.Result)
			}
		}
	}

	// Already injected (offline, or a reinvocation), then the app given
	// the mount: not left alone.
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	if resp := review(t, url, client, inject.PathNamespace, injected); !resp.Allowed || len(resp.Patch) != 0 {
		t.Fatalf("injected pod sent again: allowed %v, patch %s, status %+v; want left alone", resp.Allowed, resp.Patch, resp.Result)
	}
	mounted := bytes.Replace(injected, []byte(`"image":"a",`), []byte(`"image":"a","volumeMounts":[{"name":"portcullis-state","mountPath":"/x"}],`), 1)
	if bytes.Equal(mounted, injected) {
		t.Fatalf("cannot find the app container in %s", injected)
	}
	if resp := review(t, url, client, inject.PathNamespace, mounted); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `"portcullis-state"`) {
		t.Errorf("injected pod whose app mounts the state volume: allowed %v, patch %d bytes, status %+v; want refused naming the volume", resp.Allowed, len(resp.Patch), resp.Result)
	}
}

// TestWebhookRefusesSharedProcessNamespace: with shareProcessNamespace
// the app sees the sidecar's processes; as root (CAP_KILL is in the
// runtime's default set) or as the sidecar's user it could kill the
// sidecar and bind its port during the restart back-off, answering the
// Service itself. The pod was injected; it is now refused with the
// reason, fresh or already injected.
func TestWebhookRefusesSharedProcessNamespace(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	shared := bytes.Replace(plain, []byte(`"spec":{`), []byte(`"spec":{"shareProcessNamespace":true,`), 1)
	if resp := review(t, url, client, inject.PathNamespace, shared); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "shareProcessNamespace") {
		t.Errorf("shareProcessNamespace: allowed %v, patch %d bytes, status %+v; want refused naming it", resp.Allowed, len(resp.Patch), resp.Result)
	}
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	shared = bytes.Replace(injected, []byte(`"spec":{`), []byte(`"spec":{"shareProcessNamespace":true,`), 1)
	if bytes.Equal(shared, injected) {
		t.Fatalf("no spec in %s", injected)
	}
	if resp := review(t, url, client, inject.PathNamespace, shared); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "shareProcessNamespace") {
		t.Errorf("injected pod with shareProcessNamespace: allowed %v, patch %d bytes, status %+v; want refused naming it", resp.Allowed, len(resp.Patch), resp.Result)
	}
	// false is the default, and fine.
	off := bytes.Replace(plain, []byte(`"spec":{`), []byte(`"spec":{"shareProcessNamespace":false,`), 1)
	injectPod(t, url, client, inject.PathNamespace, off)
}

// TestWebhookNotFooledByASidecarWiredElsewhere: a pod that brings the
// configured image running `portcullis sidecar` with the configured etcd,
// certificates and collector counted as already injected whatever else
// it set, and was admitted without the injector's sidecar: one listening
// on loopback (the app then binds the pod's IP on the same port), a
// second --listen (the flag package takes the last), its state on a
// volume the app shares, the Services' port name left on the app's
// container, an HTTPS_PROXY for the etcd client's gRPC dialer, the certificates
// from a Secret of the author's, the state on a hostPath, or the pod on
// the node's network. Each is now refused with the reason; the
// injector's own sidecar is still left alone.
func TestWebhookNotFooledByASidecarWiredElsewhere(t *testing.T) {
	cfg := inject.Defaults()
	url, client := webhook(t, cfg)
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	with := edited(t, injected)
	if resp := review(t, url, client, inject.PathNamespace, with(func(*corev1.Pod) {})); !resp.Allowed || len(resp.Patch) != 0 {
		t.Fatalf("the injector's own sidecar: allowed %v, patch %s, status %+v; want left alone", resp.Allowed, resp.Patch, resp.Result)
	}
	flag := func(name, value string) func(p *corev1.Pod) {
		return func(p *corev1.Pod) {
			for i, a := range p.Spec.InitContainers[0].Args {
				if strings.HasPrefix(a, name+"=") {
					p.Spec.InitContainers[0].Args[i] = name + "=" + value
				}
			}
		}
	}
	volume := func(name string, src corev1.VolumeSource) func(p *corev1.Pod) {
		return func(p *corev1.Pod) {
			for i, v := range p.Spec.Volumes {
				if v.Name == name {
					p.Spec.Volumes[i].VolumeSource = src
				}
			}
		}
	}
	for name, f := range map[string]func(p *corev1.Pod){
		"listens on loopback": flag("--listen", "127.0.0.1:8080"),
		"listen port +8080":   flag("--listen", "0.0.0.0:+8080"),
		"second --listen": func(p *corev1.Pod) {
			p.Spec.InitContainers[0].Args = append(p.Spec.InitContainers[0].Args, "--listen=0.0.0.0:9999")
		},
		"state elsewhere": flag("--state-dir", "/shared/state"),
		"spool elsewhere": flag("--spool", "/shared/spool"),
		"http port left on the app": func(p *corev1.Pod) {
			p.Spec.InitContainers[0].Ports[0].Name = "proxy"
			p.Spec.Containers[0].Ports[0].Name = "http"
		},
		"app has a second http port": func(p *corev1.Pod) {
			p.Spec.InitContainers[0].Ports[0].Name = "proxy"
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 9000})
		},
		"HTTPS_PROXY": func(p *corev1.Pod) {
			p.Spec.InitContainers[0].Env = append(p.Spec.InitContainers[0].Env, corev1.EnvVar{Name: "HTTPS_PROXY", Value: "http://10.0.0.9:3128"})
		},
		"envFrom": func(p *corev1.Pod) {
			p.Spec.InitContainers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "mine"}}}}
		},
		"certificates from the author's Secret": volume("portcullis-tls", corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "mine"}}),
		"state on a hostPath":                   volume("portcullis-state", corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/x"}}),
		"state from a subPath": func(p *corev1.Pod) {
			p.Spec.InitContainers[0].VolumeMounts[0].SubPath = "x"
		},
		"hostNetwork": func(p *corev1.Pod) { p.Spec.HostNetwork = true },
	} {
		resp := review(t, url, client, inject.PathNamespace, with(f))
		if resp.Allowed {
			t.Errorf("%s: allowed, patch %d bytes; want refused", name, len(resp.Patch))
		} else if resp.Result == nil || resp.Result.Message == "" {
			t.Errorf("%s: refused without a reason", name)
		}
	}
}

// TestWebhookLabelsAPodThatBroughtTheSidecar: the label
// portcullis.dev/sidecar is what the namespace's NetworkPolicy selects
// (ingress on the sidecar's port only). A pod that brought the
// injector's sidecar without the label was left as it was, so the policy
// did not select it and a client reached the app's port by number
// wherever the app listened on more than loopback. The label is now
// added (the only change); sent again, the pod is left alone.
func TestWebhookLabelsAPodThatBroughtTheSidecar(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"a"}},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	var p corev1.Pod
	strict(t, injected, &p)
	delete(p.Labels, inject.LabelSidecar)
	unlabelled, err := json.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	got, out, resp := injectPod(t, url, client, inject.PathNamespace, unlabelled)
	if got.Labels[inject.LabelSidecar] != "injected" || got.Labels["app"] != "a" {
		t.Errorf("labels = %v, want %s: injected and app: a", got.Labels, inject.LabelSidecar)
	}
	var ops []map[string]any
	if err := json.Unmarshal(resp.Patch, &ops); err != nil || len(ops) != 1 || ops[0]["path"] != "/metadata/labels" {
		t.Errorf("patch = %s, want one operation, on /metadata/labels", resp.Patch)
	}
	if resp := review(t, url, client, inject.PathNamespace, out); !resp.Allowed || len(resp.Patch) != 0 {
		t.Errorf("labelled pod sent again: allowed %v, patch %s; want left alone", resp.Allowed, resp.Patch)
	}
}

// TestWebhookVerifyRefusesPodsWithoutTheSidecar: in a namespace labelled
// for injection, the opt-out annotation is the pod author's to write, so
// a tenant allowed to create pods there ran one without the sidecar by
// writing portcullis.dev/inject: "false". PathVerify, called after the
// mutating webhooks for such namespaces (but those the platform team
// labels portcullis.dev/opt-out=allowed), refuses a pod without the
// injector's sidecar, naming the opt-out and the label; an injected pod,
// and any other request, passes.
func TestWebhookVerifyRefusesPodsWithoutTheSidecar(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	optedOut := bytes.Replace(plain, []byte(`"name":"p"`), []byte(`"name":"p","annotations":{"portcullis.dev/inject":"false"}`), 1)
	// The mutating webhook lets it through, as it must where opt-outs are allowed.
	if resp := review(t, url, client, inject.PathNamespace, optedOut); !resp.Allowed || len(resp.Patch) != 0 {
		t.Fatalf("opted out at %s: allowed %v, patch %d bytes", inject.PathNamespace, resp.Allowed, len(resp.Patch))
	}
	for name, pod := range map[string][]byte{"opted out": optedOut, "no sidecar": plain} {
		resp := review(t, url, client, inject.PathVerify, pod)
		if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, inject.LabelOptOut+"=allowed") {
			t.Errorf("%s: allowed %v, status %+v; want refused naming %s=allowed", name, resp.Allowed, resp.Result, inject.LabelOptOut)
		}
	}
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	if resp := review(t, url, client, inject.PathVerify, injected); !resp.Allowed || len(resp.Patch) != 0 {
		t.Errorf("injected pod: allowed %v, patch %d bytes, status %+v; want allowed unchanged", resp.Allowed, len(resp.Patch), resp.Result)
	}
	forged := bytes.Replace(injected, []byte(`"--listen=0.0.0.0:8080"`), []byte(`"--listen=127.0.0.1:8080"`), 1)
	if bytes.Equal(forged, injected) {
		t.Fatalf("no --listen in %s", injected)
	}
	if resp := review(t, url, client, inject.PathVerify, forged); resp.Allowed {
		t.Errorf("pod whose sidecar listens on loopback: allowed; want refused")
	}
	if resp := reviewOf(t, url, client, inject.PathVerify, "UPDATE", metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, optedOut); !resp.Allowed {
		t.Errorf("UPDATE: refused %+v; want allowed (PathGuard decides updates)", resp.Result)
	}
}

// TestWebhookRefusesStarvingLimits: the limit annotations could lower
// the sidecar's limits to nothing. A sidecar starved of memory is
// OOM-killed and one starved of CPU fails its liveness probe; while it
// restarts its port is free, and an app binding it answers the Service
// (and any client of the pod's IP) itself. A limit may now be raised,
// not lowered below the configured limit (or, with none configured, the
// configured request); the refusal names the annotation and the floor.
func TestWebhookRefusesStarvingLimits(t *testing.T) {
	url, client := webhook(t, inject.Defaults()) // memoryLimit 128Mi, cpuRequest 100m, no cpuLimit
	pod := func(annotations string) []byte {
		return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{` + annotations + `}},
			"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	}
	for _, tc := range []struct{ annotation, floor string }{
		{`"portcullis.dev/memory-limit":"4Mi"`, "128Mi"},
		{`"portcullis.dev/memory-limit":"127Mi"`, "128Mi"},
		{`"portcullis.dev/memory-limit":"100M"`, "128Mi"},
		{`"portcullis.dev/cpu-limit":"1m"`, "100m"},
		{`"portcullis.dev/cpu-limit":"0.05"`, "100m"},
	} {
		resp := review(t, url, client, inject.PathNamespace, pod(tc.annotation))
		if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, tc.floor) {
			t.Errorf("%s: allowed %v, status %+v; want refused naming the floor %s", tc.annotation, resp.Allowed, resp.Result, tc.floor)
		}
	}
	for _, a := range []string{`"portcullis.dev/memory-limit":"128Mi"`, `"portcullis.dev/memory-limit":"1Gi"`, `"portcullis.dev/memory-limit":"200M"`,
		`"portcullis.dev/cpu-limit":"100m"`, `"portcullis.dev/cpu-limit":"0.5"`, `"portcullis.dev/cpu-limit":"2"`, `"portcullis.dev/memory-request":"16Mi"`} {
		injectPod(t, url, client, inject.PathNamespace, pod(a))
	}
}

// TestWebhookRefusesRedirectedSidecarHosts: /etc/hosts and resolv.conf
// are the pod's, shared by the sidecar. A hostAliases entry for the
// collector's or an etcd member's name, or nameservers of the author's,
// sent the sidecar's audit batches and policy reads to a server of the
// author's choosing, held off only by the CA check. Such a pod is
// refused naming what it set, fresh or already injected; hostAliases of
// other names and the default DNS settings are fine.
func TestWebhookRefusesRedirectedSidecarHosts(t *testing.T) {
	cfg := inject.Defaults()
	cfg.Etcd.Endpoints += ",etcd-3.example:2379"
	url, client := webhook(t, cfg)
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	with := func(pod []byte, field string) []byte {
		return bytes.Replace(pod, []byte(`"spec":{`), []byte(`"spec":{`+field+`,`), 1)
	}
	for _, tc := range []struct{ field, want string }{
		{`"hostAliases":[{"ip":"10.0.0.9","hostnames":["collector.portcullis.svc"]}]`, "collector.portcullis.svc"},
		{`"hostAliases":[{"ip":"10.0.0.9","hostnames":["x","Collector.Portcullis.SVC.cluster.local."]}]`, "Collector.Portcullis.SVC.cluster.local."},
		{`"hostAliases":[{"ip":"10.0.0.9","hostnames":["etcd-1.etcd.portcullis.svc.shop.svc.cluster.local"]}]`, "etcd-1.etcd.portcullis.svc"},
		{`"hostAliases":[{"ip":"10.0.0.9","hostnames":["etcd-3.example"]}]`, "etcd-3.example"},
		{`"dnsPolicy":"None","dnsConfig":{"nameservers":["10.0.0.9"]}`, "dnsPolicy None"},
		{`"dnsConfig":{"nameservers":["10.0.0.9"],"options":[{"name":"rotate"}]}`, "10.0.0.9"},
	} {
		resp := review(t, url, client, inject.PathNamespace, with(plain, tc.field))
		if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, tc.want) {
			t.Errorf("%s: allowed %v, status %+v; want refused naming %q", tc.field, resp.Allowed, resp.Result, tc.want)
		}
	}
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	aliased := with(injected, `"hostAliases":[{"ip":"10.0.0.9","hostnames":["collector.portcullis.svc"]}]`)
	for _, path := range []string{inject.PathNamespace, inject.PathVerify} {
		if resp := review(t, url, client, path, aliased); resp.Allowed {
			t.Errorf("injected pod with a hostAlias for the collector at %s: allowed; want refused", path)
		}
	}
	injectPod(t, url, client, inject.PathNamespace, with(plain, `"hostAliases":[{"ip":"10.0.0.9","hostnames":["db.internal","portcullis.svc.example"]}],"dnsPolicy":"ClusterFirst","dnsConfig":{"options":[{"name":"ndots","value":"2"}]}`))
}

// TestWebhookLegacyHoldsTheAppUntilTheSidecarListens: a legacy sidecar
// is a regular container, and the kubelet starts the next one (the app)
// without waiting for it to be ready, while the sidecar waits for etcd
// before it binds its port: an app binding 0.0.0.0:8080 first kept the
// port (the sidecar then failed to listen), and a Service's "http", or
// any client of the pod's IP, reached the app directly. The legacy
// sidecar now has a postStart hook, `portcullis wait --listening`, which
// the kubelet waits for before it starts the app.
func TestWebhookLegacyHoldsTheAppUntilTheSidecarListens(t *testing.T) {
	c := inject.Defaults()
	c.Legacy = true
	c.ListenPorts = []int{15001}
	url, client := webhook(t, c)
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{"portcullis.dev/listen-port":"15001"}},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	pod, out, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	sc := sidecarOf(t, pod, true)
	want := []string{"/portcullis", "wait", "--listening=127.0.0.1:15001", "1m"}
	if sc.Lifecycle == nil || sc.Lifecycle.PostStart == nil || sc.Lifecycle.PostStart.Exec == nil || !slices.Equal(sc.Lifecycle.PostStart.Exec.Command, want) {
		t.Errorf("postStart = %+v, want exec %q", sc.Lifecycle, want)
	}
	if pod.Spec.Containers[0].Name != "portcullis" {
		t.Errorf("first container = %q, want the sidecar (the kubelet starts them in order)", pod.Spec.Containers[0].Name)
	}
	if resp := review(t, url, client, inject.PathNamespace, out); !resp.Allowed || len(resp.Patch) != 0 {
		t.Errorf("sent again: allowed %v, patch %s; want left alone", resp.Allowed, resp.Patch)
	}
}

// TestWebhookLegacyRefusesRestartableInitContainers: in legacy mode the
// sidecar is a regular container, and an init container with
// restartPolicy Always (a native sidecar of the author's, on 1.29+)
// starts before it and keeps running: it could bind 0.0.0.0:8080 first,
// so that the sidecar never listens, the postStart check finds the port
// open and the app starts, reached through the Service's "http". Such a
// pod is refused in legacy mode (fresh or already injected), naming the
// init container; native mode, where the sidecar is the first init
// container, still injects it.
func TestWebhookLegacyRefusesRestartableInitContainers(t *testing.T) {
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{
		"initContainers":[{"name":"squatter","image":"a","restartPolicy":"Always"}],
		"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	c := inject.Defaults()
	c.Legacy = true
	url, client := webhook(t, c)
	if resp := review(t, url, client, inject.PathNamespace, pod); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `"squatter"`) {
		t.Errorf("legacy, restartable init container: allowed %v, patch %d bytes, status %+v; want refused naming it", resp.Allowed, len(resp.Patch), resp.Result)
	}
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	squatted := bytes.Replace(injected, []byte(`"spec":{`), []byte(`"spec":{"initContainers":[{"name":"squatter","image":"a","restartPolicy":"Always"}],`), 1)
	if resp := review(t, url, client, inject.PathNamespace, squatted); resp.Allowed {
		t.Errorf("legacy sidecar already injected, restartable init container: allowed; want refused")
	}
	nurl, nclient := webhook(t, inject.Defaults())
	got, _, _ := injectPod(t, nurl, nclient, inject.PathNamespace, pod)
	if got.Spec.InitContainers[0].Name != "portcullis" {
		t.Errorf("native: first init container = %q, want the sidecar", got.Spec.InitContainers[0].Name)
	}
}

// TestWebhookNotFooledByASidecarStartedLate: a sidecar the pod brought
// counted as injected wherever it stood. After an init container of the
// author's with restartPolicy Always, or as a regular container without
// the postStart hook that holds the app's start (or after the app), an
// author's container started first and could bind the sidecar's port,
// answering the Service itself. A native sidecar now counts only as the
// first init container with restartPolicy Always, a regular one only as
// the first container with the hook; the legacy sidecar as the injector
// writes it still counts.
func TestWebhookNotFooledByASidecarStartedLate(t *testing.T) {
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	url, client := webhook(t, inject.Defaults())
	_, native, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	legacyCfg := inject.Defaults()
	legacyCfg.Legacy = true
	lurl, lclient := webhook(t, legacyCfg)
	_, legacy, _ := injectPod(t, lurl, lclient, inject.PathNamespace, plain)
	edit := func(pod []byte, f func(p *corev1.Pod)) []byte {
		var p corev1.Pod
		strict(t, pod, &p)
		f(&p)
		b, err := json.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if resp := review(t, url, client, inject.PathNamespace, legacy); !resp.Allowed || len(resp.Patch) != 0 {
		t.Errorf("the injector's legacy sidecar: allowed %v, patch %d bytes, status %+v; want left alone", resp.Allowed, len(resp.Patch), resp.Result)
	}
	squatter := corev1.Container{Name: "squatter", Image: "a", RestartPolicy: new(corev1.ContainerRestartPolicyAlways)}
	for name, pod := range map[string][]byte{
		"native, after an init container of the author's": edit(native, func(p *corev1.Pod) {
			p.Spec.InitContainers = append([]corev1.Container{squatter}, p.Spec.InitContainers...)
		}),
		"native, without restartPolicy Always": edit(native, func(p *corev1.Pod) { p.Spec.InitContainers[0].RestartPolicy = nil }),
		"regular, without the postStart hook":  edit(legacy, func(p *corev1.Pod) { p.Spec.Containers[0].Lifecycle.PostStart = nil }),
		"regular, after the app": edit(legacy, func(p *corev1.Pod) {
			p.Spec.Containers[0], p.Spec.Containers[1] = p.Spec.Containers[1], p.Spec.Containers[0]
		}),
		"regular, the hook waiting on another port": edit(legacy, func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle.PostStart.Exec.Command[2] = "--listening=127.0.0.1:9901"
		}),
	} {
		if resp := review(t, url, client, inject.PathNamespace, pod); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "not the injector's sidecar") {
			t.Errorf("%s: allowed %v, patch %d bytes, status %+v; want refused as not the injector's sidecar", name, resp.Allowed, len(resp.Patch), resp.Result)
		}
	}
}
