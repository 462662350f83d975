package inject_test

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookRefusesTheAppTheSidecarsSecrets: the app may not mount the
// sidecar's volumes (TestWebhookRefusesMountsOfTheSidecarsVolumes), but
// it could name the Secrets they come from in a volume of its own, or in
// its environment, and the pod was injected: the app held the sidecars'
// etcd client certificate (writing members/, demand/ and approval-uses/
// of the prefix, which the other namespaces' sidecars on it share: their
// global limits) and the collector's sender token (audit batches as any
// sidecar), and the NetworkPolicy lets the injected pod reach both. Such
// a pod is refused, naming the Secret.
func TestWebhookRefusesTheAppTheSidecarsSecrets(t *testing.T) {
	c := inject.Defaults()
	url, client := webhook(t, c)
	app := func(extra string) string {
		return `{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]` + extra + `}`
	}
	mount := `,"volumeMounts":[{"name":"creds","mountPath":"/creds"}]`
	for name, tc := range map[string]struct{ secret, spec string }{
		"secret volume": {c.Etcd.ClientSecret, `"volumes":[{"name":"creds","secret":{"secretName":"` + c.Etcd.ClientSecret + `"}}],"containers":[` + app(mount) + `]`},
		"projected volume": {c.Collector.TokenSecret, `"volumes":[{"name":"creds","projected":{"sources":[{"configMap":{"name":"x"}},{"secret":{"name":"` + c.Collector.TokenSecret + `"}}]}}],` +
			`"containers":[` + app(mount) + `]`},
		"env secretKeyRef":       {c.Collector.TokenSecret, `"containers":[` + app(`,"env":[{"name":"T","valueFrom":{"secretKeyRef":{"name":"`+c.Collector.TokenSecret+`","key":"token"}}}]`) + `]`},
		"envFrom secretRef":      {c.Etcd.ClientSecret, `"containers":[` + app(`,"envFrom":[{"secretRef":{"name":"`+c.Etcd.ClientSecret+`"}}]`) + `]`},
		"init container envFrom": {c.Etcd.ClientSecret, `"initContainers":[{"name":"i","image":"a","envFrom":[{"secretRef":{"name":"` + c.Etcd.ClientSecret + `"}}]}],"containers":[` + app(``) + `]`},
	} {
		pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{` + tc.spec + `}}`)
		resp := review(t, url, client, inject.PathNamespace, pod)
		if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `"`+tc.secret+`"`) {
			t.Errorf("%s: allowed %v, patch %d bytes, status %+v; want refused naming the Secret %q", name, resp.Allowed, len(resp.Patch), resp.Result, tc.secret)
		}
	}
	// Another Secret is the app's to use.
	own := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"volumes":[{"name":"creds","secret":{"secretName":"app-db"}}],"containers":[` + app(mount) + `]}}`)
	if resp := review(t, url, client, inject.PathNamespace, own); !resp.Allowed || len(resp.Patch) == 0 {
		t.Errorf("the app's own Secret: allowed %v, patch %d bytes, status %+v; want injected", resp.Allowed, len(resp.Patch), resp.Result)
	}
}
