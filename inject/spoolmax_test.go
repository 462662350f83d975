package inject_test

import (
	"bytes"
	"testing"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookNotFooledByAShrunkenSpool: a sidecar the pod brought
// counted as the injector's whatever its --spool-max, a flag the
// injector takes from its configuration (spoolMax) and no annotation
// sets: a spool of a few KiB drops the audit records (best_effort) as
// soon as the collector lags, and aggregates the denials without a
// verified credential from its first bytes. Such a sidecar is now
// refused; the configured value still counts.
func TestWebhookNotFooledByAShrunkenSpool(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	plain := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	shrunk := bytes.Replace(injected, []byte(`"--spool-max=256MiB"`), []byte(`"--spool-max=4KiB"`), 1)
	if bytes.Equal(shrunk, injected) {
		t.Fatalf("no --spool-max=256MiB in %s", injected)
	}
	for _, path := range []string{inject.PathNamespace, inject.PathVerify} {
		if resp := review(t, url, client, path, injected); !resp.Allowed {
			t.Errorf("%s: the injector's own sidecar refused: %+v", path, resp.Result)
		}
		if resp := review(t, url, client, path, shrunk); resp.Allowed {
			t.Errorf("%s: a sidecar brought with --spool-max=4KiB: allowed; want refused", path)
		}
	}
}
