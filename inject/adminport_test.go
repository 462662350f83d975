package inject_test

import (
	"bytes"
	"strings"
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

// TestWebhookRefusesAHostPortOnTheAdminPort: the admin port (9901:
// /metrics, /readyz) is admitted by the namespace's NetworkPolicy from
// the monitoring namespace only, but a pod that brought the injector's
// sidecar with a hostPort on it (in the sidecar's port portcullis-adm,
// or a port 9901 of the app's container) was admitted: the node's port
// reached it from anywhere the node is reachable, past that policy. The
// hostPort on the port the sidecar protects was refused; the admin port
// is held to the same now, naming it.
func TestWebhookRefusesAHostPortOnTheAdminPort(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	onSidecar := bytes.Replace(injected, []byte(`{"containerPort":9901,"name":"portcullis-adm"`), []byte(`{"containerPort":9901,"hostPort":9901,"name":"portcullis-adm"`), 1)
	onApp := bytes.Replace(injected, []byte(`{"containerPort":8081,"name":"http-app"}`), []byte(`{"containerPort":8081,"name":"http-app"},{"containerPort":9901,"hostPort":19901,"name":"metrics"}`), 1)
	for name, pod := range map[string][]byte{"on the sidecar's port portcullis-adm": onSidecar, "on a port 9901 of the app's": onApp} {
		if bytes.Equal(pod, injected) {
			t.Fatalf("%s: nothing replaced in %s", name, injected)
		}
		for _, path := range []string{inject.PathNamespace, inject.PathVerify, inject.PathSecrets} {
			if resp := review(t, url, client, path, injected); !resp.Allowed {
				t.Fatalf("%s: the injected pod refused: %+v", path, resp.Result)
			}
			resp := review(t, url, client, path, pod)
			if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "admin port") || !strings.Contains(resp.Result.Message, "hostPort") {
				t.Errorf("%s: hostPort %s: allowed %v, status %+v; want refused naming the admin port's hostPort", path, name, resp.Allowed, resp.Result)
			}
		}
	}
}
