package inject_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookRefusesMountsOfTheSidecarsVolumes: a pod's author may name
// the sidecar's volumes in the app's volumeMounts before they exist (the
// API server validates the pod after the injector added them), and the
// pod was injected: the app shared the sidecar's state directory, where
// it could plant the last-known-good policy the sidecar serves while
// etcd is unreachable and rewrite or drop the audit spool before the
// collector has it. Such a pod is refused, naming the container and the
// volume, whether the sidecar is to be added or is already there.
func TestWebhookRefusesMountsOfTheSidecarsVolumes(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	for _, vol := range []string{"portcullis-state", "portcullis-token"} {
		for _, key := range []string{"containers", "initContainers"} {
			ct := `{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}],"volumeMounts":[{"name":"` + vol + `","mountPath":"/x"}]}`
			spec := `"containers":[` + ct + `]`
			if key == "initContainers" {
				spec = `"initContainers":[{"name":"setup","image":"a","volumeMounts":[{"name":"` + vol + `","mountPath":"/x","subPath":"state"}]}],` +
					`"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]`
			}
			pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{` + spec + `}}`)
			resp := review(t, url, client, inject.PathNamespace, pod)
			if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `"`+vol+`"`) {
				t.Errorf("%s mounting %s: allowed %v, patch %d bytes, status %+v; want refused naming the volume", key, vol, resp.Allowed, len(resp.Patch), resp.Result)
			}
		}
	}

	// Already injected (offline, or a reinvocation), then the app given
	// the mount: not left alone.
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	if resp := review(t, url, client, inject.PathNamespace, injected); !resp.Allowed || len(resp.Patch) != 0 {
		t.Fatalf("injected pod sent again: allowed %v, patch %s, status %+v; want left alone", resp.Allowed, resp.Patch, resp.Result)
	}
	mounted := bytes.Replace(injected, []byte(`"image":"a",`), []byte(`"image":"a","volumeMounts":[{"name":"portcullis-state","mountPath":"/x"}],`), 1)
	if bytes.Equal(mounted, injected) {
		t.Fatalf("cannot find the app container in %s", injected)
	}
	if resp := review(t, url, client, inject.PathNamespace, mounted); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `"portcullis-state"`) {
		t.Errorf("injected pod whose app mounts the state volume: allowed %v, patch %d bytes, status %+v; want refused naming the volume", resp.Allowed, len(resp.Patch), resp.Result)
	}
}

// TestWebhookRefusesSharedProcessNamespace: with shareProcessNamespace
// the app sees the sidecar's processes; as root (CAP_KILL is in the
// runtime's default set) or as the sidecar's user it could kill the
// sidecar and bind its port during the restart back-off, answering the
// Service itself. The pod was injected; it is now refused with the
// reason, fresh or already injected.
func TestWebhookRefusesSharedProcessNamespace(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	shared := bytes.Replace(plain, []byte(`"spec":{`), []byte(`"spec":{"shareProcessNamespace":true,`), 1)
	if resp := review(t, url, client, inject.PathNamespace, shared); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "shareProcessNamespace") {
		t.Errorf("shareProcessNamespace: allowed %v, patch %d bytes, status %+v; want refused naming it", resp.Allowed, len(resp.Patch), resp.Result)
	}
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	shared = bytes.Replace(injected, []byte(`"spec":{`), []byte(`"spec":{"shareProcessNamespace":true,`), 1)
	if bytes.Equal(shared, injected) {
		t.Fatalf("no spec in %s", injected)
	}
	if resp := review(t, url, client, inject.PathNamespace, shared); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "shareProcessNamespace") {
		t.Errorf("injected pod with shareProcessNamespace: allowed %v, patch %d bytes, status %+v; want refused naming it", resp.Allowed, len(resp.Patch), resp.Result)
	}
	// false is the default, and fine.
	off := bytes.Replace(plain, []byte(`"spec":{`), []byte(`"spec":{"shareProcessNamespace":false,`), 1)
	injectPod(t, url, client, inject.PathNamespace, off)
}
