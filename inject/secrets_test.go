package inject_test

import (
	"bytes"
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

// TestWebhookGuardRefusesTheSidecarsSecretsToADebugContainer: an
// ephemeral container (kubectl debug, through pods/ephemeralcontainers)
// added to an injected pod could take the sidecar's Secrets into its
// environment, as the app may not at creation
// (TestWebhookRefusesTheAppTheSidecarsSecrets). It is refused at
// PathGuard, naming the Secret; one taking another Secret passes.
func TestWebhookGuardRefusesTheSidecarsSecretsToADebugContainer(t *testing.T) {
	c := inject.Defaults()
	url, client := webhook(t, c)
	in := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, in)
	debug := func(secret string) []byte {
		return bytes.Replace(injected, []byte(`"spec":{`), []byte(`"spec":{"ephemeralContainers":[{"name":"debugger","image":"busybox","targetContainerName":"a","envFrom":[{"secretRef":{"name":"`+secret+`"}}]}],`), 1)
	}
	for _, secret := range []string{c.Etcd.ClientSecret, c.Collector.TokenSecret} {
		if resp := guardUpdate(t, url, client, injected, debug(secret)); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `"`+secret+`"`) {
			t.Errorf("ephemeral container with envFrom %s: allowed %v, status %+v; want refused naming the Secret", secret, resp.Allowed, resp.Result)
		}
	}
	if resp := guardUpdate(t, url, client, injected, debug("app-db")); !resp.Allowed {
		t.Errorf("ephemeral container with envFrom app-db: refused %+v; want allowed", resp.Result)
	}
}
