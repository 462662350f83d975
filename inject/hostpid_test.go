package inject_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookRefusesHostPID: shareProcessNamespace is refused because
// the app would see the sidecar's process (to signal it and take its
// port while it restarts, or to read its files, the etcd client key
// among them, through /proc/<pid>/root), but hostPID puts every
// container of the pod, the sidecar included, in the node's process
// namespace, which gives the app the same, and such a pod was injected
// (and one bringing the sidecar admitted at /verify). It is now refused
// at both, naming hostPID; hostPID false still injects.
func TestWebhookRefusesHostPID(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	host := bytes.Replace(plain, []byte(`"spec":{`), []byte(`"spec":{"hostPID":true,`), 1)
	if resp := review(t, url, client, inject.PathNamespace, host); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "hostPID") {
		t.Errorf("hostPID: allowed %v, patch %d bytes, status %+v; want refused naming it", resp.Allowed, len(resp.Patch), resp.Result)
	}
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	host = bytes.Replace(injected, []byte(`"spec":{`), []byte(`"spec":{"hostPID":true,`), 1)
	for _, path := range []string{inject.PathNamespace, inject.PathVerify} {
		if resp := review(t, url, client, path, host); resp.Allowed {
			t.Errorf("%s: injected pod with hostPID: allowed; want refused", path)
		}
	}
	injectPod(t, url, client, inject.PathNamespace, bytes.Replace(plain, []byte(`"spec":{`), []byte(`"spec":{"hostPID":false,`), 1))
}
