package inject_test

import (
	"bytes"
	"testing"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookNotFooledByAnAdminPortMoved: the injector's sidecar serves
// its admin port on the configured adminPort (9901), which the
// namespace's NetworkPolicy admits from the monitoring namespace; no
// annotation moves it. A sidecar the pod brought with --admin on another
// port (its probes moved alike) counted as the injector's, and left 9901
// to the app, reached there from monitoring past the sidecar. Such a
// sidecar is now refused.
func TestWebhookNotFooledByAnAdminPortMoved(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	moved := bytes.ReplaceAll(injected, []byte(`9901`), []byte(`9902`))
	if !bytes.Contains(moved, []byte(`"--admin=0.0.0.0:9902"`)) {
		t.Fatalf("no --admin=0.0.0.0:9901 in %s", injected)
	}
	for _, path := range []string{inject.PathNamespace, inject.PathVerify} {
		if resp := review(t, url, client, path, moved); resp.Allowed {
			t.Errorf("%s: a sidecar brought with --admin=0.0.0.0:9902: allowed; want refused", path)
		}
	}
}
