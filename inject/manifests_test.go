package inject_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/inject"
	"github.com/portcullis/portcullis/internal/debpkg"
	"github.com/portcullis/portcullis/policy"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const base = "../deploy/kubernetes"

// kubectl returns the path of kubectl, installing Debian's package when it
// is missing and the test runs as root with apt-get (as CI does; debpkg).
func kubectl(t *testing.T) string { return debpkg.Path(t, "kubectl", "kubectl") }

// kustomize runs `kubectl kustomize dir` and returns the objects it
// writes, as JSON documents.
func kustomize(t *testing.T, dir string) [][]byte {
	t.Helper()
	cmd := exec.Command(kubectl(t), "kustomize", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.Bytes())
	}
	return documents(t, out)
}

// object is a kustomize output object: its header and its JSON.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	raw []byte
}

func (o object) id() string { return o.Kind + " " + o.Metadata.Namespace + "/" + o.Metadata.Name }

// decodeTyped decodes a built-in object strictly into its k8s.io/api
// type; it returns nil for a kind of a CRD.
func decodeTyped(t *testing.T, o object) any {
	t.Helper()
	var v any
	switch o.APIVersion + " " + o.Kind {
	case "v1 Namespace":
		v = &corev1.Namespace{}
	case "v1 Service":
		v = &corev1.Service{}
	case "v1 ServiceAccount":
		v = &corev1.ServiceAccount{}
	case "v1 ConfigMap":
		v = &corev1.ConfigMap{}
	case "apps/v1 Deployment":
		v = &appsv1.Deployment{}
	case "apps/v1 StatefulSet":
		v = &appsv1.StatefulSet{}
	case "batch/v1 Job":
		v = &batchv1.Job{}
	case "policy/v1 PodDisruptionBudget":
		v = &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1 NetworkPolicy":
		v = &networkingv1.NetworkPolicy{}
	case "rbac.authorization.k8s.io/v1 Role":
		v = &rbacv1.Role{}
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		v = &rbacv1.RoleBinding{}
	case "admissionregistration.k8s.io/v1 MutatingWebhookConfiguration":
		v = &admissionregv1.MutatingWebhookConfiguration{}
	case "admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration":
		v = &admissionregv1.ValidatingWebhookConfiguration{}
	case "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy":
		v = &admissionregv1.ValidatingAdmissionPolicy{}
	case "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding":
		v = &admissionregv1.ValidatingAdmissionPolicyBinding{}
	default:
		return nil
	}
	strict(t, o.raw, v)
	return v
}

// checkCRD checks the structure of the custom resources minimally: the
// fields cert-manager and the Prometheus Operator require.
func checkCRD(t *testing.T, o object) {
	t.Helper()
	var v struct {
		Spec map[string]any `json:"spec"`
	}
	if err := json.Unmarshal(o.raw, &v); err != nil || v.Spec == nil {
		t.Errorf("%s: no spec (%v)", o.id(), err)
		return
	}
	var need []string
	switch o.APIVersion + " " + o.Kind {
	case "cert-manager.io/v1 Certificate":
		need = []string{"secretName", "issuerRef"}
	case "cert-manager.io/v1 ClusterIssuer":
		if v.Spec["ca"] == nil && v.Spec["selfSigned"] == nil {
			t.Errorf("%s: neither ca nor selfSigned", o.id())
		}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		need = []string{"selector", "endpoints"}
	case "monitoring.coreos.com/v1 PodMonitor":
		need = []string{"selector", "podMetricsEndpoints", "namespaceSelector"}
	default:
		t.Errorf("%s: unexpected kind %s", o.id(), o.APIVersion)
	}
	for _, f := range need {
		if v.Spec[f] == nil {
			t.Errorf("%s: spec.%s missing", o.id(), f)
		}
	}
}

// TestKustomizeBase builds the base with kubectl kustomize, decodes every
// object strictly into its k8s.io/api type (custom resources checked
// minimally) and checks what the base promises: the kinds it holds, etcd's
// TLS and client-certificate auth, the webhooks, the restricted security
// context of every pod, and the policy it pushes.
func TestKustomizeBase(t *testing.T) {
	objs := map[string]any{}
	kinds := map[string]int{}
	var certificates []object
	for _, doc := range kustomize(t, base) {
		var o object
		if err := json.Unmarshal(doc, &o); err != nil {
			t.Fatal(err)
		}
		o.raw = doc
		kinds[o.Kind]++
		if o.Kind == "Certificate" {
			certificates = append(certificates, o)
		}
		if typed := decodeTyped(t, o); typed != nil {
			objs[o.id()] = typed
		} else {
			checkCRD(t, o)
		}
	}
	for kind, n := range map[string]int{"Namespace": 2, "StatefulSet": 2, "Deployment": 2, "Service": 5, "Job": 3, "Secret": 0,
		"MutatingWebhookConfiguration": 1, "ValidatingWebhookConfiguration": 1, "NetworkPolicy": 6, "PodDisruptionBudget": 3, "Role": 2, "RoleBinding": 2,
		"Certificate": 9, "ClusterIssuer": 2, "ServiceMonitor": 3, "PodMonitor": 1, "ConfigMap": 2,
		"ValidatingAdmissionPolicy": 2, "ValidatingAdmissionPolicyBinding": 2} {
		if kinds[kind] != n {
			t.Errorf("%d %s objects, want %d", kinds[kind], kind, n)
		}
	}
	checkEtcd(t, objs["StatefulSet portcullis/etcd"].(*appsv1.StatefulSet))
	checkCollector(t, objs["StatefulSet portcullis/portcullis-collector"].(*appsv1.StatefulSet))
	checkWebhooks(t, objs["MutatingWebhookConfiguration /portcullis-injector"].(*admissionregv1.MutatingWebhookConfiguration))
	checkGuard(t, objs["ValidatingWebhookConfiguration /portcullis-injector"].(*admissionregv1.ValidatingWebhookConfiguration))
	checkCertificatePolicy(t, objs["ValidatingAdmissionPolicy /portcullis-ca-signs-sidecars-only"].(*admissionregv1.ValidatingAdmissionPolicy),
		objs["ValidatingAdmissionPolicyBinding /portcullis-ca-signs-sidecars-only"].(*admissionregv1.ValidatingAdmissionPolicyBinding), certificates)
	for id, o := range objs {
		if spec := podSpecOf(o); spec != nil {
			checkRestricted(t, id, spec)
		}
	}
	cm := objs["ConfigMap portcullis/portcullis-policy"].(*corev1.ConfigMap)
	doc, err := policy.Load("policy-cluster.yaml", []byte(cm.Data["policy.yaml"]))
	if err != nil {
		t.Fatalf("the pushed policy: %v", err)
	}
	if len(doc.TrustedProxies) == 0 || slices.Contains(doc.TrustedProxies, "127.0.0.0/8") {
		t.Errorf("cluster policy trusted_proxies = %v, want the ingress's addresses", doc.TrustedProxies)
	}
}

func checkEtcd(t *testing.T, s *appsv1.StatefulSet) {
	t.Helper()
	if s.Spec.Replicas == nil || *s.Spec.Replicas != 3 || len(s.Spec.VolumeClaimTemplates) != 1 {
		t.Errorf("etcd: replicas %v, %d claims; want 3 members with a volume each", s.Spec.Replicas, len(s.Spec.VolumeClaimTemplates))
	}
	args := strings.Join(s.Spec.Template.Spec.Containers[0].Args, " ")
	for _, want := range []string{"--client-cert-auth", "--peer-client-cert-auth", "--listen-client-urls=https://", "--listen-peer-urls=https://",
		"--trusted-ca-file=", "--peer-trusted-ca-file=", "etcd-2=https://etcd-2.etcd.portcullis.svc:2380"} {
		if !strings.Contains(args, want) {
			t.Errorf("etcd args lack %s: %s", want, args)
		}
	}
}

func checkCollector(t *testing.T, s *appsv1.StatefulSet) {
	t.Helper()
	if len(s.Spec.VolumeClaimTemplates) != 1 {
		t.Errorf("collector: %d volume claims, want 1", len(s.Spec.VolumeClaimTemplates))
	}
	secrets := map[string]bool{}
	for _, v := range s.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			secrets[v.Secret.SecretName] = true
		}
	}
	for _, want := range []string{"portcullis-collector-signing-key", "portcullis-collector-tokens", "portcullis-collector-tls"} {
		if !secrets[want] {
			t.Errorf("collector does not mount Secret %s", want)
		}
	}
	// The collector opens --metrics-listen, where the probes go, only
	// once etcd has answered and holds the policy (its detection rules):
	// on a fresh install that waits for etcd and the policy Job. A
	// liveness probe without a startup probe killed it after a minute of
	// waiting, and again after each restart.
	c := s.Spec.Template.Spec.Containers[0]
	sp, lp := c.StartupProbe, c.LivenessProbe
	switch {
	case lp == nil || lp.HTTPGet == nil || lp.HTTPGet.Path != "/healthz" || lp.HTTPGet.Port.String() != "metrics":
		t.Errorf("collector liveness probe %+v: want /healthz on the metrics port", lp)
	case sp == nil || sp.HTTPGet == nil || sp.HTTPGet.Path != "/healthz" || sp.HTTPGet.Port.String() != "metrics":
		t.Errorf("collector startup probe %+v: want one on /healthz of the metrics port, holding the liveness probe off while the collector waits for etcd and the policy", sp)
	case c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port.String() != "metrics":
		// /healthz stays 200 on a full disk (liveness): readiness must ask /readyz.
		t.Errorf("collector readiness probe %+v: want /readyz on the metrics port", c.ReadinessProbe)
	case sp.PeriodSeconds*sp.FailureThreshold < 600:
		t.Errorf("collector startup probe allows %ds; want at least 10 minutes for etcd and the policy Job", sp.PeriodSeconds*sp.FailureThreshold)
	}
}

// checkGuard: the validating webhook calls PathGuard on Pod UPDATE of
// injected pods (by their label, which the API server matches on the old
// object too), fails closed, and leaves the control plane's namespaces.
func checkGuard(t *testing.T, v *admissionregv1.ValidatingWebhookConfiguration) {
	t.Helper()
	if len(v.Webhooks) != 4 {
		t.Fatalf("%d validating webhooks, want 4", len(v.Webhooks))
	}
	checkNamespaceLabelWebhook(t, &v.Webhooks[1])
	checkVerifyWebhook(t, &v.Webhooks[2])
	checkGuardCondition(t, &v.Webhooks[0])
	w := v.Webhooks[0]
	if w.ClientConfig.Service == nil || w.ClientConfig.Service.Path == nil || *w.ClientConfig.Service.Path != inject.PathGuard ||
		w.FailurePolicy == nil || *w.FailurePolicy != admissionregv1.Fail || v.Annotations["cert-manager.io/inject-ca-from"] != "portcullis/portcullis-injector" {
		t.Errorf("guard webhook: service %+v, failure policy %v, CA %q; want %s, Fail, the injector's CA", w.ClientConfig.Service, w.FailurePolicy, v.Annotations["cert-manager.io/inject-ca-from"], inject.PathGuard)
	}
	// pods/status too: its strategy resets the spec but keeps the
	// metadata it is sent, so the label can be dropped through it (which
	// is why NodeRestriction forbids kubelets to). Only a status update
	// changing the label meets the webhook (matchConditions), so that
	// kubelet's status updates do not wait on the injector.
	// pods/resize and pods/ephemeralcontainers too: the running sidecar's
	// resources, and ephemeral containers beside it, change through them
	// (TestWebhookGuardsTheRunningSidecar).
	if len(w.Rules) != 1 || !slices.Equal(w.Rules[0].Operations, []admissionregv1.OperationType{admissionregv1.Update}) ||
		!slices.Equal(w.Rules[0].Resources, []string{"pods", "pods/status", "pods/resize", "pods/ephemeralcontainers"}) {
		t.Errorf("guard webhook rules = %+v, want UPDATE of pods, pods/status, pods/resize and pods/ephemeralcontainers", w.Rules)
	}
	if len(w.MatchConditions) != 1 || !strings.Contains(w.MatchConditions[0].Expression, "request.subResource != 'status'") ||
		strings.Count(w.MatchConditions[0].Expression, "labels['portcullis.dev/sidecar']") != 2 {
		t.Errorf("guard webhook matchConditions = %+v, want every pods update and the pods/status updates changing the label portcullis.dev/sidecar", w.MatchConditions)
	}
	sel, err := metav1.LabelSelectorAsSelector(w.ObjectSelector)
	if err != nil || !sel.Matches(labels.Set{"portcullis.dev/sidecar": "injected"}) || sel.Matches(labels.Set{}) {
		t.Errorf("guard webhook objectSelector = %+v, want the injected pods' label", w.ObjectSelector)
	}
	ns, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
	if err != nil || !ns.Matches(labels.Set{"kubernetes.io/metadata.name": "shop"}) || ns.Matches(labels.Set{"kubernetes.io/metadata.name": "kube-system"}) {
		t.Errorf("guard webhook namespaceSelector = %+v, want every app namespace", w.NamespaceSelector)
	}
}

// checkNamespaceLabelWebhook: a namespace labelled portcullis.dev/inject
// with a value other than "true" or "false" ("True", "yes") met only the
// opt-in webhook, whose failures are ignored, so its pods started without
// the sidecar its operator asked for. The validating webhook refuses
// every pod created in such a namespace (failurePolicy Fail), by the API
// server's own selector semantics.
func checkNamespaceLabelWebhook(t *testing.T, w *admissionregv1.ValidatingWebhook) {
	t.Helper()
	if w.ClientConfig.Service == nil || w.ClientConfig.Service.Path == nil || *w.ClientConfig.Service.Path != inject.PathNamespaceLabel ||
		w.FailurePolicy == nil || *w.FailurePolicy != admissionregv1.Fail {
		t.Errorf("namespace label webhook: service %+v, failure policy %v; want %s, Fail", w.ClientConfig.Service, w.FailurePolicy, inject.PathNamespaceLabel)
	}
	if len(w.Rules) != 1 || !slices.Equal(w.Rules[0].Operations, []admissionregv1.OperationType{admissionregv1.Create}) || !slices.Equal(w.Rules[0].Resources, []string{"pods"}) {
		t.Errorf("namespace label webhook rules = %+v, want CREATE of pods", w.Rules)
	}
	ns, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
	if err != nil {
		t.Fatal(err)
	}
	for value, want := range map[string]bool{"True": true, "yes": true, "": true, "true": false, "false": false} {
		if got := ns.Matches(labels.Set{"kubernetes.io/metadata.name": "shop", "portcullis.dev/inject": value}); got != want {
			t.Errorf("namespace labelled portcullis.dev/inject=%q meets the namespace label webhook: %v, want %v", value, got, want)
		}
	}
	if ns.Matches(labels.Set{"kubernetes.io/metadata.name": "default"}) || ns.Matches(labels.Set{"kubernetes.io/metadata.name": "kube-system", "portcullis.dev/inject": "yes"}) {
		t.Errorf("namespace label webhook selects an unlabelled or a system namespace: %+v", w.NamespaceSelector)
	}
}

// checkVerifyWebhook: in a namespace labelled for injection a pod's
// author could opt out by annotation and run without the sidecar. The
// verifying webhook (failurePolicy Fail) sees every pod created in such
// a namespace but one the platform team labelled portcullis.dev/opt-out=allowed.
func checkVerifyWebhook(t *testing.T, w *admissionregv1.ValidatingWebhook) {
	t.Helper()
	if w.ClientConfig.Service == nil || w.ClientConfig.Service.Path == nil || *w.ClientConfig.Service.Path != inject.PathVerify ||
		w.FailurePolicy == nil || *w.FailurePolicy != admissionregv1.Fail {
		t.Errorf("verify webhook: service %+v, failure policy %v; want %s, Fail", w.ClientConfig.Service, w.FailurePolicy, inject.PathVerify)
	}
	if len(w.Rules) != 1 || !slices.Equal(w.Rules[0].Operations, []admissionregv1.OperationType{admissionregv1.Create}) || !slices.Equal(w.Rules[0].Resources, []string{"pods"}) {
		t.Errorf("verify webhook rules = %+v, want CREATE of pods", w.Rules)
	}
	if w.ObjectSelector != nil && len(w.ObjectSelector.MatchLabels)+len(w.ObjectSelector.MatchExpressions) > 0 {
		t.Errorf("verify webhook objectSelector = %+v, want none (a pod's labels are its author's)", w.ObjectSelector)
	}
	ns, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		labels labels.Set
		want   bool
	}{
		{labels.Set{"kubernetes.io/metadata.name": "shop", "portcullis.dev/inject": "true"}, true},
		{labels.Set{"kubernetes.io/metadata.name": "shop", "portcullis.dev/inject": "true", inject.LabelOptOut: "true"}, true},
		{labels.Set{"kubernetes.io/metadata.name": "shop", "portcullis.dev/inject": "true", inject.LabelOptOut: "allowed"}, false},
		{labels.Set{"kubernetes.io/metadata.name": "shop"}, false},
		{labels.Set{"kubernetes.io/metadata.name": "kube-system", "portcullis.dev/inject": "true"}, false},
	} {
		if got := ns.Matches(tc.labels); got != tc.want {
			t.Errorf("namespace %v meets the verify webhook: %v, want %v", tc.labels, got, tc.want)
		}
	}
}

func checkWebhooks(t *testing.T, m *admissionregv1.MutatingWebhookConfiguration) {
	t.Helper()
	if m.Annotations["cert-manager.io/inject-ca-from"] != "portcullis/portcullis-injector" {
		t.Errorf("webhook CA annotation = %q", m.Annotations["cert-manager.io/inject-ca-from"])
	}
	paths := map[string]admissionregv1.FailurePolicyType{}
	for _, w := range m.Webhooks {
		if w.ClientConfig.Service == nil || w.ClientConfig.Service.Path == nil || w.FailurePolicy == nil {
			t.Fatalf("webhook %s: no service path or failure policy", w.Name)
		}
		paths[*w.ClientConfig.Service.Path] = *w.FailurePolicy
		if len(w.AdmissionReviewVersions) != 1 || w.AdmissionReviewVersions[0] != "v1" || w.SideEffects == nil || *w.SideEffects != admissionregv1.SideEffectClassNone {
			t.Errorf("webhook %s: review versions %v, side effects %v", w.Name, w.AdmissionReviewVersions, w.SideEffects)
		}
	}
	if paths[inject.PathNamespace] != admissionregv1.Fail || paths[inject.PathInject] != admissionregv1.Ignore {
		t.Errorf("webhook paths and failure policies = %v, want %s Fail and %s Ignore", paths, inject.PathNamespace, inject.PathInject)
	}
	// Which webhook a namespace's pods meet, by the API server's own
	// selector semantics: exactly one for an app namespace, none for the
	// control plane's and the system's.
	meets := map[string]string{"shop": inject.PathNamespace, "default": inject.PathInject}
	for _, ns := range inject.ExcludedNamespaces { // those portcullis inject leaves alone
		meets[ns] = ""
	}
	for ns, want := range meets {
		set := labels.Set{"kubernetes.io/metadata.name": ns}
		if ns == "shop" {
			set["portcullis.dev/inject"] = "true"
		}
		var got []string
		for _, w := range m.Webhooks {
			sel, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
			if err != nil {
				t.Fatalf("webhook %s: %v", w.Name, err)
			}
			if sel.Matches(set) {
				got = append(got, *w.ClientConfig.Service.Path)
			}
		}
		if (want == "" && len(got) != 0) || (want != "" && !slices.Equal(got, []string{want})) {
			t.Errorf("namespace %s meets webhooks %v, want %q", ns, got, want)
		}
	}
}

func podSpecOf(o any) *corev1.PodSpec {
	switch v := o.(type) {
	case *appsv1.Deployment:
		return &v.Spec.Template.Spec
	case *appsv1.StatefulSet:
		return &v.Spec.Template.Spec
	case *batchv1.Job:
		return &v.Spec.Template.Spec
	}
	return nil
}

// checkRestricted checks the "restricted" Pod Security Standard's
// container rules (the namespaces enforce it): non-root, no privilege
// escalation, every capability dropped, RuntimeDefault seccomp (here or on
// the pod), and a read-only root filesystem and resource requests and a
// memory limit besides.
func checkRestricted(t *testing.T, id string, spec *corev1.PodSpec) {
	t.Helper()
	psc := spec.SecurityContext
	podNonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	podSeccomp := psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		sc := c.SecurityContext
		where := fmt.Sprintf("%s container %s", id, c.Name)
		switch {
		case sc == nil:
			t.Errorf("%s: no securityContext", where)
		case !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot):
			t.Errorf("%s: may run as root", where)
		case !podSeccomp && (sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault):
			t.Errorf("%s: no RuntimeDefault seccomp profile", where)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: privilege escalation allowed", where)
		case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
			t.Errorf("%s: capabilities not dropped", where)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: root filesystem writable", where)
		}
		// Requests and a memory limit on every container, the Jobs'
		// too: without them a Job's pods ran BestEffort, unbounded, and a
		// namespace quota that requires them refused them.
		mem, lim := c.Resources.Requests.Memory(), c.Resources.Limits.Memory()
		if c.Resources.Requests.Cpu().IsZero() || mem.IsZero() || lim.IsZero() || lim.Cmp(*mem) < 0 {
			t.Errorf("%s: resources %+v; want cpu and memory requests and a memory limit at least the request", where, c.Resources)
		}
	}
}

// TestKustomizeImage: `kustomize edit set image` (an overlay's images:)
// changes every portcullis container and the image the injector gives the
// sidecars.
func TestKustomizeImage(t *testing.T) {
	abs, err := filepath.Abs(base)
	if err != nil {
		t.Fatal(err)
	}
	overlay := t.TempDir()
	rel, err := filepath.Rel(overlay, abs) // kustomize refuses an absolute base
	if err != nil {
		t.Fatal(err)
	}
	k := "resources: [" + rel + "]\nimages:\n  - {name: portcullis, newName: registry.example/portcullis, newTag: v1.2.3}\n"
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	const want = "registry.example/portcullis:v1.2.3"
	found := false
	for _, doc := range kustomize(t, overlay) {
		if bytes.Contains(doc, []byte(`"portcullis:dev"`)) {
			t.Errorf("an object still names portcullis:dev: %.200s", doc)
		}
		var d appsv1.Deployment
		if err := json.Unmarshal(doc, &d); err != nil || d.Kind != "Deployment" || d.Name != "portcullis-injector" {
			continue
		}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "SIDECAR_IMAGE" {
				found = e.Value == want
			}
		}
	}
	if !found {
		t.Errorf("the injector's SIDECAR_IMAGE is not %s", want)
	}
}

// TestExampleAppInjected sends the pod of the base's example app through
// the webhook with the shipped injector config: the result decodes
// strictly, meets the restricted standard, and the Service's targetPort
// (http) now names the sidecar's port, which forwards to the app on
// loopback.
func TestExampleAppInjected(t *testing.T) {
	c, err := inject.LoadConfig(shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	url, client := webhook(t, c)
	var dep appsv1.Deployment
	var svc corev1.Service
	for _, doc := range documents(t, mustRead(t, base+"/example-app.yaml")) {
		var o object
		if err := json.Unmarshal(doc, &o); err != nil {
			t.Fatal(err)
		}
		switch o.Kind {
		case "Deployment":
			strict(t, doc, &dep)
		case "Service":
			strict(t, doc, &svc)
		}
	}
	tmpl := corev1.Pod{ObjectMeta: dep.Spec.Template.ObjectMeta, Spec: dep.Spec.Template.Spec}
	tmpl.APIVersion, tmpl.Kind, tmpl.GenerateName, tmpl.Namespace = "v1", "Pod", "hr-service-", "shop"
	in, err := json.Marshal(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	pod, _, resp := injectPod(t, url, client, inject.PathNamespace, in)
	if len(resp.Warnings) != 0 {
		t.Errorf("warnings for the example app: %q", resp.Warnings)
	}
	sc := sidecarOf(t, pod, false)
	checkRestricted(t, "injected hr-service", &pod.Spec)
	target := svc.Spec.Ports[0].TargetPort.String()
	var owners []string
	for _, ct := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		for _, p := range ct.Ports {
			if p.Name == target {
				owners = append(owners, fmt.Sprintf("%s:%d", ct.Name, p.ContainerPort))
			}
		}
	}
	if !slices.Equal(owners, []string{"portcullis:8080"}) {
		t.Errorf("Service targetPort %q names %v, want only the sidecar's port 8080", target, owners)
	}
	if got := argValue(sc, "upstream"); got != "127.0.0.1:8081" {
		t.Errorf("--upstream = %q, want the app's loopback port", got)
	}
	// The shipped configuration lists no services: the label's
	// hr-service is passed over for the namespace's own name
	// (TestWebhookBindsTheServiceToTheNamespace).
	if got := argValue(sc, "service"); got != "shop" {
		t.Errorf("--service = %q, want shop (the namespace's: the shipped configuration lists no services)", got)
	}
}
