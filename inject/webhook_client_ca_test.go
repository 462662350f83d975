package inject_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestWebhookClientCAComponent builds the base with the component
// webhook-client-ca and the cluster's CA given as docs/kubernetes.md
// shows: the injector gets --client-ca from the generated ConfigMap's
// ca.crt, and its probes, which present no client certificate, are TCP
// probes rather than HTTPS ones that would fail their handshake.
func TestWebhookClientCAComponent(t *testing.T) {
	var dep *appsv1.Deployment
	var cm *corev1.ConfigMap
	for _, doc := range kustomize(t, "testdata/webhook-client-ca") {
		var o object
		if err := json.Unmarshal(doc, &o); err != nil {
			t.Fatal(err)
		}
		switch {
		case o.id() == "Deployment portcullis/portcullis-injector":
			dep = &appsv1.Deployment{}
			strict(t, doc, dep)
		case o.Kind == "ConfigMap" && strings.HasPrefix(o.Metadata.Name, "portcullis-webhook-client-ca"):
			cm = &corev1.ConfigMap{}
			strict(t, doc, cm)
		}
	}
	if dep == nil || cm == nil {
		t.Fatalf("the build lacks the injector's Deployment (%v) or the CA's ConfigMap (%v)", dep != nil, cm != nil)
	}
	if !strings.Contains(cm.Data["ca.crt"], "BEGIN CERTIFICATE") {
		t.Errorf("ConfigMap %s holds no certificate under ca.crt", cm.Name)
	}
	spec := dep.Spec.Template.Spec
	c := spec.Containers[0]
	if !slices.Contains(c.Args, "--client-ca=/etc/portcullis/client-ca/ca.crt") {
		t.Errorf("injector args %q: want --client-ca=/etc/portcullis/client-ca/ca.crt", c.Args)
	}
	var mounted string
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/etc/portcullis/client-ca" {
			mounted = m.Name
		}
	}
	var from string
	for _, v := range spec.Volumes {
		if v.Name == mounted && v.ConfigMap != nil {
			from = v.ConfigMap.Name
		}
	}
	if mounted == "" || from != cm.Name {
		t.Errorf("/etc/portcullis/client-ca is volume %q from ConfigMap %q; want one from the generated %s", mounted, from, cm.Name)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.TCPSocket == nil || p.HTTPGet != nil {
			t.Errorf("%s probe %+v: want a TCP probe (the kubelet's HTTPS probe presents no client certificate)", name, p)
		}
	}
}
