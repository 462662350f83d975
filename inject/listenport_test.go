package inject_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookListenPortIsThePlatformsChoice: the namespace's
// NetworkPolicy (portcullis-sidecar) admits ingress to injected pods on
// the sidecar's port, 8080, only. A pod annotated
// portcullis.dev/listen-port: "15001" moved its sidecar off that port and
// was injected, so 8080 was free for the app: an app declaring (or just
// listening on) 0.0.0.0:8080 was reached there by any pod, and by a
// Service with targetPort 8080, past the sidecar, through the very
// policy meant to admit the sidecar only. A sidecar the pod brought with
// --listen on another port counted as injected alike. A listen port
// other than listenPort is now refused unless the injector's
// configuration lists it (listenPorts), naming the setting; a listed
// port still injects.
func TestWebhookListenPortIsThePlatformsChoice(t *testing.T) {
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{"portcullis.dev/listen-port":"15001"}},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081},{"name":"direct","containerPort":8080}]}]}}`)
	url, client := webhook(t, inject.Defaults())
	if resp := review(t, url, client, inject.PathNamespace, pod); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "listenPorts") {
		t.Errorf("listen-port 15001 not configured: allowed %v, patch %d bytes, status %+v; want refused naming listenPorts", resp.Allowed, len(resp.Patch), resp.Result)
	}
	c := inject.Defaults()
	c.ListenPorts = []int{15001}
	lurl, lclient := webhook(t, c)
	_, injected, _ := injectPod(t, lurl, lclient, inject.PathNamespace, pod)
	// The sidecar it wrote, brought to an injector that does not allow 15001.
	if !bytes.Contains(injected, []byte(`"--listen=0.0.0.0:15001"`)) {
		t.Fatalf("no --listen=0.0.0.0:15001 in %s", injected)
	}
	for _, path := range []string{inject.PathNamespace, inject.PathVerify} {
		if resp := review(t, url, client, path, injected); resp.Allowed {
			t.Errorf("%s: a sidecar brought listening on 15001: allowed; want refused", path)
		}
	}
}
