package inject_test

import (
	"encoding/json"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The injector's --metrics-listen (its go_* and process_* families) was
// in no manifest: Prometheus could not scrape it, and its memory, held to
// its limit by the Go memory limit, went unwatched. The base now runs it
// on 9464, names the port on the Deployment and the Service, scrapes it
// with a ServiceMonitor, and admits it from the monitoring namespace only,
// in the base and with the component webhook-source, which narrows the
// webhook's rule alone.
func TestInjectorMetricsScraped(t *testing.T) {
	for _, dir := range []string{base, "testdata/webhook-source"} {
		t.Run(dir, func(t *testing.T) {
			var (
				dep      *appsv1.Deployment
				svc      *corev1.Service
				pol      *networkingv1.NetworkPolicy
				monitors []serviceMonitor
			)
			for _, doc := range kustomize(t, dir) {
				var o object
				if err := json.Unmarshal(doc, &o); err != nil {
					t.Fatal(err)
				}
				switch o.id() {
				case "Deployment portcullis/portcullis-injector":
					dep = &appsv1.Deployment{}
					strict(t, doc, dep)
				case "Service portcullis/portcullis-injector":
					svc = &corev1.Service{}
					strict(t, doc, svc)
				case "NetworkPolicy portcullis/injector":
					pol = &networkingv1.NetworkPolicy{}
					strict(t, doc, pol)
				}
				if o.Kind == "ServiceMonitor" {
					var m serviceMonitor
					if err := json.Unmarshal(doc, &m); err != nil {
						t.Fatal(err)
					}
					monitors = append(monitors, m)
				}
			}
			if dep == nil || svc == nil || pol == nil {
				t.Fatalf("the build lacks the injector's Deployment (%v), Service (%v) or NetworkPolicy (%v)", dep != nil, svc != nil, pol != nil)
			}
			c := dep.Spec.Template.Spec.Containers[0]
			if !slices.Contains(c.Args, "--metrics-listen=0.0.0.0:9464") {
				t.Errorf("injector args %v: want --metrics-listen=0.0.0.0:9464", c.Args)
			}
			if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" && p.ContainerPort == 9464 }) {
				t.Errorf("injector container ports %+v: want metrics, 9464", c.Ports)
			}
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" && p.TargetPort.String() == "metrics" }) {
				t.Errorf("injector Service ports %+v: want one named metrics to the container's metrics port", svc.Spec.Ports)
			}
			scraped := slices.ContainsFunc(monitors, func(m serviceMonitor) bool {
				sel, err := metav1.LabelSelectorAsSelector(&m.Spec.Selector)
				return err == nil && m.Metadata.Namespace == svc.Namespace && sel.Matches(labels.Set(svc.Labels)) &&
					slices.ContainsFunc(m.Spec.Endpoints, func(e smEndpoint) bool { return e.Port == "metrics" && e.Path == "/metrics" })
			})
			if !scraped {
				t.Errorf("no ServiceMonitor selects the injector's Service (labels %v) on its metrics port: %+v", svc.Labels, monitors)
			}
			admitted := false
			for i, rule := range pol.Spec.Ingress {
				for _, p := range rule.Ports {
					if p.Port == nil || p.Port.IntValue() != 9464 {
						continue
					}
					monitoring := len(rule.From) > 0
					for _, peer := range rule.From {
						ns, err := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
						monitoring = monitoring && err == nil && peer.NamespaceSelector != nil && peer.PodSelector == nil && peer.IPBlock == nil &&
							ns.Matches(labels.Set{"kubernetes.io/metadata.name": "monitoring"}) && !ns.Matches(labels.Set{"kubernetes.io/metadata.name": "shop"})
					}
					if !monitoring {
						t.Errorf("ingress rule %d admits 9464 from %+v; want the monitoring namespace only", i, rule.From)
					}
					admitted = true
				}
			}
			if !admitted {
				t.Errorf("NetworkPolicy injector admits no metrics port: %+v", pol.Spec.Ingress)
			}
		})
	}
}

// serviceMonitor is the part of a Prometheus Operator ServiceMonitor the
// test reads.
type serviceMonitor struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []smEndpoint         `json:"endpoints"`
	} `json:"spec"`
}

type smEndpoint struct {
	Port string `json:"port"`
	Path string `json:"path"`
}
