package inject_test

import (
	"encoding/json"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

// Finding (review92): the base's NetworkPolicy injector admits the
// webhook's port, 9443, from anywhere, since the API server's address is
// not known in advance. The webhook holds at most MaxConns connections,
// and a new peer takes a place only from a peer holding more than it
// would: MaxConns pods holding one connection each left the API server's
// next connection (a new replica, one its idle timeout closed) no place,
// and with failurePolicy Fail no pod was created in a labelled namespace.
// Where the API server's source is known, the component webhook-source
// admits the port from it alone.

// TestWebhookSourceComponent builds the base with the component and
// and an overlay's CIDR, as docs/kubernetes.md shows, and checks that the
// policy injector admits 9443 from that ipBlock only: no rule from every
// source, none from a pod or namespace selector.
func TestWebhookSourceComponent(t *testing.T) {
	var pol *networkingv1.NetworkPolicy
	for _, doc := range kustomize(t, "testdata/webhook-source") {
		var o object
		if err := json.Unmarshal(doc, &o); err != nil {
			t.Fatal(err)
		}
		if o.id() == "NetworkPolicy portcullis/injector" {
			pol = &networkingv1.NetworkPolicy{}
			strict(t, doc, pol)
		}
	}
	if pol == nil {
		t.Fatal("no NetworkPolicy portcullis/injector in the build")
	}
	if len(pol.Spec.Ingress) == 0 {
		t.Fatal("the policy admits nothing: the API server cannot reach the webhook")
	}
	for i, rule := range pol.Spec.Ingress {
		if len(rule.Ports) == 1 && rule.Ports[0].Port != nil && rule.Ports[0].Port.IntValue() == 9464 {
			continue // the metrics port from the monitoring namespace (TestInjectorMetricsScraped)
		}
		if len(rule.From) == 0 {
			t.Errorf("ingress rule %d admits every source; want the API server's ipBlock only", i)
		}
		for _, peer := range rule.From {
			if peer.IPBlock == nil || peer.PodSelector != nil || peer.NamespaceSelector != nil {
				t.Errorf("ingress rule %d admits %+v; want an ipBlock only", i, peer)
			} else if peer.IPBlock.CIDR != "10.0.0.0/28" {
				t.Errorf("ingress rule %d admits %s; want the overlay's 10.0.0.0/28", i, peer.IPBlock.CIDR)
			}
		}
		if len(rule.Ports) != 1 || rule.Ports[0].Port == nil || rule.Ports[0].Port.IntValue() != 9443 {
			t.Errorf("ingress rule %d ports %v; want 9443 only", i, rule.Ports)
		}
	}
}
