package inject_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/inject"
)

// TestLegacySidecarHoldsItsPort: a legacy sidecar (a regular container)
// gets SIGTERM with the app and released its port after the drain, where
// an app ignoring SIGTERM bound it and answered past the sidecar for the
// rest of the grace period. The injector now gives it --hold-port=true
// (the sidecar keeps the port, answering 503, until the app is gone:
// TestHeldPortOutlivesTheDrain), and a regular-container sidecar of the
// configured image brought without it is not the injector's. A native
// sidecar, stopped after the app, has none.
func TestLegacySidecarHoldsItsPort(t *testing.T) {
	c := inject.Defaults()
	c.Legacy = true
	url, client := webhook(t, c)
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	legacy, injected, _ := injectPod(t, url, client, inject.PathNamespace, pod)
	if args := sidecarOf(t, legacy, true).Args; !slices.Contains(args, "--hold-port=true") {
		t.Fatalf("legacy sidecar args %q: no --hold-port=true; after its drain an app ignoring SIGTERM could take its port", args)
	}
	without := bytes.Replace(injected, []byte(`,"--hold-port=true"`), nil, 1)
	for _, path := range []string{inject.PathNamespace, inject.PathVerify} {
		if resp := review(t, url, client, path, without); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "--hold-port") {
			t.Errorf("%s: a legacy sidecar brought without --hold-port: allowed %v, status %+v; want refused naming it", path, resp.Allowed, resp.Result)
		}
		if resp := review(t, url, client, path, injected); !resp.Allowed {
			t.Errorf("%s: the injector's own legacy sidecar refused: %+v", path, resp.Result)
		}
	}
	nurl, nclient := webhook(t, inject.Defaults())
	native, _, _ := injectPod(t, nurl, nclient, inject.PathNamespace, pod)
	if args := sidecarOf(t, native, false).Args; slices.Contains(args, "--hold-port=true") {
		t.Errorf("native sidecar args %q hold the port: the kubelet stops it after the app", args)
	}
}
