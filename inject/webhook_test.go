package inject_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/portcullis/portcullis/inject"
)

// webhook serves the injector's handler over HTTPS on loopback and
// returns its URL and a client trusting it.
func webhook(t *testing.T, c inject.Config) (string, *http.Client) {
	t.Helper()
	wh := &inject.Webhook{Config: c}
	srv := httptest.NewUnstartedServer(wh.Handler())
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, srv.Client()
}

// review sends pod to the webhook at path as an AdmissionReview for Pod
// CREATE in namespace ns, decodes the answer strictly and returns its
// response.
func review(t *testing.T, url string, client *http.Client, path string, pod []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	return reviewOf(t, url, client, path, "CREATE", metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, pod)
}

func reviewOf(t *testing.T, url string, client *http.Client, path, op string, kind metav1.GroupVersionKind, obj []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	return reviewIn(t, url, client, path, "shop", op, kind, obj)
}

// reviewIn is reviewOf for an object of namespace ns.
func reviewIn(t *testing.T, url string, client *http.Client, path, ns, op string, kind metav1.GroupVersionKind, obj []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	uid := types.UID(fmt.Sprintf("uid-%d", len(obj)))
	req := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: uid, Kind: kind, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: ns, Operation: admissionv1.Operation(op), Object: runtime.RawExtension{Raw: obj},
			UserInfo: authnUser(),
		},
	}
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Post(url+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	var got admissionv1.AdmissionReview
	strict(t, b, &got)
	if got.APIVersion != "admission.k8s.io/v1" || got.Kind != "AdmissionReview" || got.Response == nil {
		t.Fatalf("answer is not an AdmissionReview with a response: %s", b)
	}
	if got.Response.UID != uid {
		t.Fatalf("response uid = %q, want %q", got.Response.UID, uid)
	}
	return got.Response
}

// injectPod sends pod through the webhook, applies the patch and decodes
// the result strictly.
func injectPod(t *testing.T, url string, client *http.Client, path string, pod []byte) (*corev1.Pod, []byte, *admissionv1.AdmissionResponse) {
	t.Helper()
	resp := review(t, url, client, path, pod)
	if !resp.Allowed {
		t.Fatalf("denied: %+v", resp.Result)
	}
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch || len(resp.Patch) == 0 {
		t.Fatalf("no JSONPatch in the response (warnings %v)", resp.Warnings)
	}
	out := applyPatch(t, pod, resp.Patch)
	var got corev1.Pod
	strict(t, out, &got)
	return &got, out, resp
}

// TestWebhookInjectsDocsPods feeds the Kubernetes docs' example pods (and
// the pods of the docs' workloads) through the webhook over HTTPS, applies
// the JSONPatch and decodes the result strictly into core/v1.Pod; sending
// the injected pod again changes nothing (idempotence).
func TestWebhookInjectsDocsPods(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	for _, file := range docsFiles(t) {
		if strings.Contains(file, "liveness") {
			continue // no port, or the sidecar's port: TestWebhookRefuses
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			in := podFromTemplate(t, readJSON(t, file))
			var before corev1.Pod
			strict(t, in, &before)
			pod, out, _ := injectPod(t, url, client, inject.PathNamespace, in)
			c := sidecarOf(t, pod, false)
			app := before.Spec.Containers[0].Ports[0]
			if got, want := argValue(c, "upstream"), fmt.Sprintf("127.0.0.1:%d", app.ContainerPort); got != want {
				t.Errorf("--upstream = %q, want %q", got, want)
			}
			if len(pod.Spec.InitContainers) != len(before.Spec.InitContainers)+1 || len(pod.Spec.Containers) != len(before.Spec.Containers) {
				t.Errorf("containers: %d init, %d app; want %d, %d", len(pod.Spec.InitContainers), len(pod.Spec.Containers), len(before.Spec.InitContainers)+1, len(before.Spec.Containers))
			}
			again := review(t, url, client, inject.PathNamespace, out)
			if !again.Allowed || len(again.Patch) != 0 {
				t.Errorf("second review: allowed %v, patch %s; want allowed without a patch", again.Allowed, again.Patch)
			}
		})
	}
}

// TestWebhookPortRename: the app's port named "http" becomes "http-app",
// the sidecar's listen port takes the name "http" (so a Service with
// targetPort: http reaches the sidecar), and the sidecar forwards to the
// app on loopback; a probe naming the renamed port is rewritten.
func TestWebhookPortRename(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	in := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"api","annotations":{"portcullis.dev/inject":"true"}},
		"spec":{"containers":[{"name":"api","image":"api:1","ports":[{"name":"http","containerPort":8081},{"name":"health","containerPort":8082}],
		"readinessProbe":{"httpGet":{"path":"/ready","port":"health"}},"livenessProbe":{"tcpSocket":{"port":"http"}}}]}}`)
	pod, _, resp := injectPod(t, url, client, inject.PathInject, in)
	c := sidecarOf(t, pod, false)
	if got := c.Ports[0]; got.Name != "http" || got.ContainerPort != 8080 {
		t.Errorf("sidecar port = %+v, want http 8080", got)
	}
	app := pod.Spec.Containers[0]
	if got := app.Ports[0]; got.Name != "http-app" || got.ContainerPort != 8081 {
		t.Errorf("app port = %+v, want http-app 8081", got)
	}
	if got := app.LivenessProbe.TCPSocket.Port.String(); got != "http-app" {
		t.Errorf("liveness probe port = %q, want http-app", got)
	}
	if got := app.ReadinessProbe.HTTPGet.Port.String(); got != "health" {
		t.Errorf("readiness probe port = %q, want health (left direct)", got)
	}
	if got := argValue(c, "upstream"); got != "127.0.0.1:8081" {
		t.Errorf("--upstream = %q, want 127.0.0.1:8081", got)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "livenessProbe targets port 8081") {
		t.Errorf("warnings = %q, want one about the liveness probe of the protected port", resp.Warnings)
	}
}

// TestWebhookOptInOut: at /inject only a pod that opts in (annotation or
// label) is injected; at /inject/namespace (the namespace's label matched)
// every pod is, unless it opts out; UPDATE and other kinds pass.
func TestWebhookOptInOut(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	pod := func(meta string) []byte {
		return fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"%s},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`, meta)
	}
	for _, tc := range []struct {
		name, path, meta string
		want             bool
	}{
		{"no opt-in", inject.PathInject, ``, false},
		{"annotation", inject.PathInject, `,"annotations":{"portcullis.dev/inject":"true"}`, true},
		{"label", inject.PathInject, `,"labels":{"portcullis.dev/inject":"true"}`, true},
		{"namespace", inject.PathNamespace, ``, true},
		{"namespace, pod opts out", inject.PathNamespace, `,"annotations":{"portcullis.dev/inject":"false"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := review(t, url, client, tc.path, pod(tc.meta))
			if !resp.Allowed {
				t.Fatalf("denied: %+v", resp.Result)
			}
			if got := len(resp.Patch) > 0; got != tc.want {
				t.Errorf("patched = %v, want %v", got, tc.want)
			}
		})
	}
	hostNet := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"hostNetwork":true,"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	if resp := review(t, url, client, inject.PathNamespace, hostNet); resp.Allowed || len(resp.Patch) != 0 || resp.Result == nil || !strings.Contains(resp.Result.Message, "hostNetwork") {
		t.Errorf("hostNetwork pod: allowed %v, patch %s, status %+v; want refused naming hostNetwork (TestWebhookFailsClosedWhenItCannotInject)", resp.Allowed, resp.Patch, resp.Result)
	}
	for _, tc := range []struct {
		name, op string
		kind     metav1.GroupVersionKind
	}{
		{"update", "UPDATE", metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}},
		{"deployment", "CREATE", metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}},
	} {
		resp := reviewOf(t, url, client, inject.PathNamespace, tc.op, tc.kind, pod(""))
		if !resp.Allowed || len(resp.Patch) != 0 {
			t.Errorf("%s: allowed %v, patch %s; want allowed unchanged", tc.name, resp.Allowed, resp.Patch)
		}
	}
}

// TestWebhookRefuses: malformed annotations and a port clash are denied
// with the reason (a typo must not start the pod unprotected), and so is a
// pod without a port.
func TestWebhookRefuses(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	for _, tc := range []struct{ name, annotations, want string }{
		{"bad port", `"portcullis.dev/upstream-port":"http"`, "portcullis.dev/upstream-port"},
		{"bad prefix", `"portcullis.dev/prefix":"prod"`, "portcullis.dev/prefix"},
		{"bad level", `"portcullis.dev/log-level":"loud"`, "portcullis.dev/log-level"},
		{"bad memory", `"portcullis.dev/memory-limit":"lots"`, "portcullis.dev/memory-limit"},
		{"listen on admin", `"portcullis.dev/listen-port":"9901"`, "portcullis.dev/listen-port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{%s}},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`, tc.annotations)
			resp := review(t, url, client, inject.PathNamespace, pod)
			if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, tc.want) {
				t.Errorf("allowed %v, status %+v; want denied naming %s", resp.Allowed, resp.Result, tc.want)
			}
		})
	}
	t.Run("no port (docs http-liveness)", func(t *testing.T) {
		resp := review(t, url, client, inject.PathNamespace, readJSON(t, "testdata/k8s-docs/http-liveness.yaml"))
		// The docs' pod declares no port: it asked for the sidecar (its
		// namespace is labelled) and cannot have it, so it is refused.
		if resp.Allowed || len(resp.Patch) != 0 || resp.Result == nil || !strings.Contains(resp.Result.Message, "no port") {
			t.Errorf("allowed %v, patch %d bytes, status %+v; want refused, naming the missing port", resp.Allowed, len(resp.Patch), resp.Result)
		}
	})
	t.Run("port clash (docs goproxy on 8080)", func(t *testing.T) {
		resp := review(t, url, client, inject.PathNamespace, readJSON(t, "testdata/k8s-docs/tcp-liveness-readiness.yaml"))
		if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "8080") {
			t.Errorf("allowed %v, status %+v; want denied naming port 8080", resp.Allowed, resp.Result)
		}
	})
}

// TestWebhookAnnotations: the per-pod annotations reach the sidecar.
func TestWebhookAnnotations(t *testing.T) {
	cfg := inject.Defaults()
	cfg.Prefixes = []string{"/portcullis/prod"}                 // a pod names only a prefix the configuration lists
	cfg.ListenPorts = []int{15001}                              // and only a listen port it lists
	cfg.Services = map[string][]string{"shop": {"goproxy-api"}} // and a service of its namespace
	url, client := webhook(t, cfg)
	in := readJSON(t, "testdata/k8s-docs/tcp-liveness-readiness.yaml")
	in = bytes.Replace(in, []byte(`"name":"goproxy"}`), []byte(`"name":"goproxy","annotations":{
		"portcullis.dev/listen-port":"15001","portcullis.dev/prefix":"/portcullis/prod","portcullis.dev/log-level":"debug",
		"portcullis.dev/cpu-request":"50m","portcullis.dev/memory-request":"48Mi","portcullis.dev/cpu-limit":"1","portcullis.dev/memory-limit":"192Mi",
		"portcullis.dev/service":"goproxy-api"}}`), 1)
	pod, _, resp := injectPod(t, url, client, inject.PathNamespace, in)
	c := sidecarOf(t, pod, false)
	for name, want := range map[string]string{"listen": "0.0.0.0:15001", "upstream": "127.0.0.1:8080", "prefix": "/portcullis/prod",
		"log-level": "debug", "service": "goproxy-api", "drain-delay": "5s"} {
		if got := argValue(c, name); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
	for name, want := range map[string]string{"requests.cpu": "50m", "requests.memory": "48Mi", "limits.cpu": "1", "limits.memory": "192Mi"} {
		list := c.Resources.Requests
		if strings.HasPrefix(name, "limits") {
			list = c.Resources.Limits
		}
		q := list[corev1.ResourceName(strings.SplitN(name, ".", 2)[1])]
		if got := q.String(); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	// The port has no name, and both of the docs' probes target it.
	var probes int
	for _, w := range resp.Warnings {
		if strings.Contains(w, "Probe targets port 8080") {
			probes++
		}
	}
	if len(resp.Warnings) != 3 || probes != 2 {
		t.Errorf("warnings = %q, want three (no port named http; readiness and liveness probes of the protected port)", resp.Warnings)
	}
}

// TestWebhookLegacy: in legacy mode the sidecar is the first regular
// container with a preStop hook waiting the drain delay, and a Job's pod is
// left alone (the sidecar would keep it from completing).
func TestWebhookLegacy(t *testing.T) {
	c := inject.Defaults()
	c.Legacy = true
	url, client := webhook(t, c)
	pod, _, _ := injectPod(t, url, client, inject.PathNamespace, podFromTemplate(t, readJSON(t, "testdata/k8s-docs/nginx-deployment.yaml")))
	sc := sidecarOf(t, pod, true)
	if len(pod.Spec.InitContainers) != 0 {
		t.Errorf("legacy mode added init containers: %+v", pod.Spec.InitContainers)
	}
	if sc.Lifecycle == nil || sc.Lifecycle.PreStop == nil || sc.Lifecycle.PreStop.Exec == nil ||
		!slices.Equal(sc.Lifecycle.PreStop.Exec.Command, []string{"/portcullis", "wait", "5s"}) {
		t.Errorf("preStop = %+v, want /portcullis wait 5s (the drain delay)", sc.Lifecycle)
	}
	if got := pod.Spec.TerminationGracePeriodSeconds; got == nil || *got < 35 {
		t.Errorf("terminationGracePeriodSeconds = %v, want >= 35 (preStop + drain delay + drain + flush)", got)
	}
	job := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"pi-x","labels":{"batch.kubernetes.io/job-name":"pi"},
		"ownerReferences":[{"apiVersion":"batch/v1","kind":"Job","name":"pi","uid":"u1","controller":true}]},
		"spec":{"restartPolicy":"Never","containers":[{"name":"pi","image":"perl","ports":[{"containerPort":8000}]}]}}`)
	resp := review(t, url, client, inject.PathNamespace, bytes.Replace(job, []byte(`"name":"pi-x",`), []byte(`"name":"pi-x","annotations":{"portcullis.dev/inject":"false"},`), 1))
	if !resp.Allowed || len(resp.Patch) != 0 {
		t.Errorf("legacy Job pod opted out: allowed %v, patch %s; want allowed, unpatched", resp.Allowed, resp.Patch)
	}
	if resp := review(t, url, client, inject.PathInject, job); !resp.Allowed || len(resp.Patch) != 0 {
		t.Errorf("legacy Job pod in a namespace without the label: allowed %v, patch %s; want allowed, unpatched", resp.Allowed, resp.Patch)
	}
}

// TestWebhookLegacyJobIsNoWayOut: in legacy mode a Job's pod was admitted
// bare, and what made a pod a Job's was its label
// batch.kubernetes.io/job-name (or an ownerReference, which a pod created
// directly sets as it likes): a Deployment whose template carried the
// label ran its server without the sidecar in a namespace whose pods must
// have it, without opting out. A Job's pod there is now refused, like a
// pod without a port, unless it opts out (which an admission policy can
// see).
func TestWebhookLegacyJobIsNoWayOut(t *testing.T) {
	c := inject.Defaults()
	c.Legacy = true
	url, client := webhook(t, c)
	for name, pod := range map[string]string{
		"label": `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","labels":{"app":"web","batch.kubernetes.io/job-name":"x"}},
			"spec":{"containers":[{"name":"web","image":"nginx","ports":[{"name":"http","containerPort":8000}]}]}}`,
		"ownerReference": `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","ownerReferences":[{"apiVersion":"batch/v1","kind":"Job","name":"x","uid":"u1","controller":true}]},
			"spec":{"containers":[{"name":"web","image":"nginx","ports":[{"name":"http","containerPort":8000}]}]}}`,
	} {
		resp := review(t, url, client, inject.PathNamespace, []byte(pod))
		if resp.Allowed {
			t.Errorf("%s: a pod claiming to be a Job's in a labelled namespace: allowed, patch %d bytes; want refused", name, len(resp.Patch))
		} else if !strings.Contains(resp.Result.Message, inject.AnnotationInject) {
			t.Errorf("%s: refused with %q, want the opt-out named", name, resp.Result.Message)
		}
	}
}

// TestWebhookRejectsBadRequests: only POSTed JSON AdmissionReviews of
// bounded size are answered.
func TestWebhookRejectsBadRequests(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	post := func(ctype string, body []byte) int {
		resp, err := client.Post(url+inject.PathInject, ctype, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name string
		got  int
		want int
	}{
		{"text", post("text/plain", []byte(`{}`)), http.StatusUnsupportedMediaType},
		{"not a review", post("application/json", []byte(`{"apiVersion":"v1","kind":"Pod"}`)), http.StatusBadRequest},
		{"v1beta1", post("application/json", []byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}`)), http.StatusBadRequest},
		{"too large", post("application/json", append([]byte(`{"apiVersion":"`), bytes.Repeat([]byte("a"), 5<<20)...)), http.StatusRequestEntityTooLarge},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	resp, err := client.Get(url + inject.PathInject)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d, want 405", resp.StatusCode)
	}
}

// TestWebhookRefusesValueBombs: a body within the size bound made of tiny
// JSON values ("{}," a million times) is refused before it is decoded:
// decoded twice into maps it took 240 MiB of heap, past the injector's
// 128Mi memory limit, and any pod that reaches the webhook's port could
// send it. A real pod with a large annotation and many containers is
// still injected.
func TestWebhookRefusesValueBombs(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	post := func(obj string) (int, string) {
		body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":` + obj + `}}`
		resp, err := client.Post(url+inject.PathInject, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	n := (4<<20 - 400) / 3
	for name, obj := range map[string]string{
		"empty objects": `{"metadata":{"annotations":{"portcullis.dev/inject":"true"}},"spec":{"x":[` + strings.Repeat("{},", n-1) + `{}]}}`,
		"numbers":       `{"metadata":{"annotations":{"portcullis.dev/inject":"true"}},"spec":{"x":[` + strings.Repeat("1,", n-1) + `1]}}`,
		"keys":          `{"metadata":{"annotations":{"portcullis.dev/inject":"true"}},"spec":{"x":{` + strings.Repeat(`"":0,`, n/3) + `"":0}}}`,
	} {
		if code, body := post(obj); code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: status %d (%.100s), want 413", name, code, body)
		}
	}

	var cts []string
	for i := range 50 {
		cts = append(cts, fmt.Sprintf(`{"name":"c%d","image":"app","env":[%s],"ports":[{"name":"p%d","containerPort":%d}]}`, i,
			strings.TrimSuffix(strings.Repeat(`{"name":"A","value":"a\"b,{[:"},`, 40), ","), i, 9000+i))
	}
	pod := `{"metadata":{"name":"big","annotations":{"portcullis.dev/inject":"true","note":"` + strings.Repeat(`x,{}[]:\"`, 20000) +
		`"}},"spec":{"containers":[` + strings.Join(cts, ",") + `]}}`
	code, body := post(pod)
	if code != http.StatusOK || !strings.Contains(body, `"allowed":true`) || !strings.Contains(body, `"patch"`) {
		t.Errorf("a large real pod: status %d (%.200s), want 200 with a patch", code, body)
	}
}

// edited returns a func giving the JSON of pod, an injected pod, as f
// changes it (decoded strictly, as the API server would).
func edited(t *testing.T, pod []byte) func(f func(p *corev1.Pod)) []byte {
	return func(f func(p *corev1.Pod)) []byte {
		var p corev1.Pod
		strict(t, pod, &p)
		f(&p)
		b, err := json.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}
