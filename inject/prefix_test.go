package inject_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookPrefixOnlyFromConfig: the annotation portcullis.dev/prefix
// took any etcd prefix a pod's author wrote. The sidecars' etcd role
// (etcd-roles-job.yaml) may write under <prefix>/members/, and every pod
// of the namespace can mount its client certificate, so an author put an
// allow-all policy at /portcullis/default/members/x/policy and annotated
// the pod with prefix /portcullis/default/members/x: the sidecar then
// enforced the author's policy and keys, not the operators'. Another
// deployment's prefix swapped in its policy the same way. A pod may now
// name only the configured prefix or one of Config.Prefixes, by
// annotation or in a sidecar it brings.
func TestWebhookPrefixOnlyFromConfig(t *testing.T) {
	cfg := inject.Defaults()
	cfg.Prefixes = []string{"/portcullis/prod"}
	url, client := webhook(t, cfg)
	pod := func(prefix string) []byte {
		return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","annotations":{"portcullis.dev/prefix":"` + prefix +
			`"}},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	}
	for _, p := range []string{"/portcullis/default/members/x", "/portcullis/default/demand/x", "/portcullis/staging", "/portcullis/prod/members/x", "/portcullis/prod/"} {
		resp := review(t, url, client, inject.PathNamespace, pod(p))
		if resp.Allowed {
			t.Errorf("prefix %q: allowed (patch %d bytes); want refused", p, len(resp.Patch))
		} else if !strings.Contains(resp.Result.Message, inject.AnnotationPrefix) || !strings.Contains(resp.Result.Message, p) {
			t.Errorf("prefix %q: refused with %q, want the annotation and the value named", p, resp.Result.Message)
		}
	}
	for _, p := range []string{"/portcullis/prod", "/portcullis/default"} {
		got, injected, _ := injectPod(t, url, client, inject.PathNamespace, pod(p))
		if v := argValue(sidecarOf(t, got, false), "prefix"); v != p {
			t.Errorf("--prefix = %q, want %q", v, p)
		}
		if p != "/portcullis/prod" {
			continue
		}
		// A sidecar the pod brings (injected offline) names its prefix in
		// its flags: the same list holds.
		var own corev1.Pod
		strict(t, injected, &own)
		for i, a := range own.Spec.InitContainers[0].Args {
			if strings.HasPrefix(a, "--prefix=") {
				own.Spec.InitContainers[0].Args[i] = "--prefix=/portcullis/default/members/x"
			}
		}
		b, _ := json.Marshal(&own)
		if resp := review(t, url, client, inject.PathNamespace, b); resp.Allowed {
			t.Errorf("a sidecar of the pod's own with --prefix=/portcullis/default/members/x: allowed; want refused")
		}
	}
}

// TestLoadConfigRefusesNestedPrefixes: a prefix under another (listed or
// the default) is refused, since the sidecars of the outer one may write
// under its members/ and demand/.
func TestLoadConfigRefusesNestedPrefixes(t *testing.T) {
	for _, body := range []string{
		"prefixes: [/portcullis/default/members/a]\n",
		"prefixes: [/portcullis/prod, /portcullis/prod/x]\n",
		"prefix: /p/x\nprefixes: [/p]\n",
		"prefixes: [portcullis/prod]\n",
	} {
		path := t.TempDir() + "/c.yaml"
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := inject.LoadConfig(path); err == nil || !strings.Contains(err.Error(), "prefix") {
			t.Errorf("%q: err = %v, want one naming the prefix", body, err)
		}
	}
}
