package inject_test

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookNotFooledByFreeFlagsOutOfShape: a sidecar a pod brought
// counted as the injector's with any --service and --log-level, though
// the annotations that set them (portcullis.dev/service,
// portcullis.dev/log-level) take a service name and a level only: a
// brought sidecar could name its audit records' service with what no
// annotation may write (spaces, quotes, 64 characters and more). They
// are held to the annotations' forms now.
func TestWebhookNotFooledByFreeFlagsOutOfShape(t *testing.T) {
	cfg := inject.Defaults()
	cfg.Services = map[string][]string{"shop": {"billing"}} // a name of the namespace's (TestWebhookBindsTheServiceToTheNamespace)
	url, client := webhook(t, cfg)
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{"portcullis.dev/service":"billing"}},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, pod)
	for flag, bad := range map[string]string{
		"service":   `billing\" ; other`,
		"log-level": "trace",
	} {
		re := regexp.MustCompile(`"--` + flag + `=[^"]*"`)
		if !re.Match(injected) {
			t.Fatalf("no --%s in %s", flag, injected)
		}
		forged := re.ReplaceAll(injected, []byte(`"--`+flag+`=`+bad+`"`))
		if bytes.Equal(forged, injected) {
			t.Fatalf("--%s not replaced", flag)
		}
		for _, path := range []string{inject.PathNamespace, inject.PathVerify} {
			if resp := review(t, url, client, path, injected); !resp.Allowed {
				t.Errorf("%s: the injector's own sidecar refused: %+v", path, resp.Result)
			}
			if resp := review(t, url, client, path, forged); resp.Allowed {
				t.Errorf("%s: a sidecar brought with --%s=%s: allowed; want refused", path, flag, bad)
			}
		}
	}
}
