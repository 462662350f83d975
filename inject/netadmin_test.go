package inject_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookRefusesNetworkControl: every container of a pod shares its
// network namespace, so a container holding CAP_NET_ADMIN (added, ALL,
// or privileged) can write the pod's iptables, and one holding
// CAP_SYS_MODULE can load a kernel module that does (review50: it was
// injected): one rule (REDIRECT of the
// sidecar's port to the app's) sends the Service's traffic, which the
// NetworkPolicy admits on the sidecar's port, to the app past the
// sidecar, and an init container's rule outlives it. Such pods were
// injected in any namespace not held to the restricted Pod Security
// Standard. They are refused naming the container, whether the sidecar is
// to be added or is already there (/verify too); NET_BIND_SERVICE still
// injects.
func TestWebhookRefusesNetworkControl(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	app := func(sc string) []byte {
		return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a",` + sc +
			`"ports":[{"name":"http","containerPort":8081}]}]}}`)
	}
	for _, sc := range []string{
		`"securityContext":{"capabilities":{"add":["NET_ADMIN"]}},`,
		`"securityContext":{"capabilities":{"add":["CAP_NET_ADMIN"]}},`,
		`"securityContext":{"capabilities":{"add":["net_admin"]}},`,
		`"securityContext":{"capabilities":{"add":["ALL"]}},`,
		`"securityContext":{"capabilities":{"add":["SYS_ADMIN"]}},`,
		`"securityContext":{"capabilities":{"add":["SYS_MODULE"]}},`,
		`"securityContext":{"capabilities":{"add":["cap_sys_module"]}},`,
		`"securityContext":{"privileged":true},`,
	} {
		resp := review(t, url, client, inject.PathNamespace, app(sc))
		if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `container "a"`) {
			t.Errorf("app with %s: allowed %v, patch %d bytes, status %+v; want refused naming the container", sc, resp.Allowed, len(resp.Patch), resp.Result)
		}
	}
	init := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"initContainers":[{"name":"iptables","image":"a",` +
		`"securityContext":{"capabilities":{"add":["NET_ADMIN","NET_RAW"]}}}],"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	if resp := review(t, url, client, inject.PathNamespace, init); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `container "iptables"`) {
		t.Errorf("init container with NET_ADMIN: allowed %v, patch %d bytes, status %+v; want refused naming it", resp.Allowed, len(resp.Patch), resp.Result)
	}

	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, app(`"securityContext":{"capabilities":{"add":["NET_BIND_SERVICE"]}},`))
	given := bytes.Replace(injected, []byte(`"NET_BIND_SERVICE"`), []byte(`"NET_ADMIN"`), 1)
	if bytes.Equal(given, injected) {
		t.Fatalf("cannot find the app's capability in %s", injected)
	}
	for _, path := range []string{inject.PathNamespace, inject.PathVerify} {
		if resp := review(t, url, client, path, given); resp.Allowed {
			t.Errorf("%s: injected pod whose app has NET_ADMIN: allowed; want refused", path)
		}
	}
}

// TestWebhookGuardRefusesNetadminDebug: an ephemeral container added to
// an injected pod (kubectl debug --profile=netadmin adds NET_ADMIN) shares
// the pod's network namespace as any container does, and the iptables
// rule it leaves sends the sidecar's port to the app after it exits. It
// was allowed; it is refused at PathGuard, naming the container, and a
// debug container without it still passes.
func TestWebhookGuardRefusesNetadminDebug(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	in := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, in)
	debug := func(sc string) []byte {
		return bytes.Replace(injected, []byte(`"spec":{`), []byte(`"spec":{"ephemeralContainers":[{"name":"debugger","image":"busybox","targetContainerName":"a"`+sc+`}],`), 1)
	}
	resp := guardUpdate(t, url, client, injected, debug(`,"securityContext":{"capabilities":{"add":["NET_ADMIN","NET_RAW"]}}`))
	if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `container "debugger"`) {
		t.Errorf("ephemeral container with NET_ADMIN: allowed %v, status %+v; want refused naming it", resp.Allowed, resp.Result)
	}
	if resp := guardUpdate(t, url, client, injected, debug("")); !resp.Allowed {
		t.Errorf("ephemeral container without capabilities: refused %+v; want allowed", resp.Result)
	}
}

// TestWebhookRefusesDACReadSearch: a container adding DAC_READ_SEARCH
// may call open_by_handle_at (the runtime's default seccomp profile allows
// it to a holder of the capability) and open files by handle on the
// node's filesystem that holds the pod's /etc/hosts bind mount, the
// kubelet's directory, where the sidecar's state volume lies: the app
// could rewrite the last-known-good policy the sidecar serves while etcd
// is away, which a mount of that volume is refused for. It was injected;
// such a pod, and such an ephemeral container, are refused naming it.
func TestWebhookRefusesDACReadSearch(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a",` +
		`"securityContext":{"capabilities":{"add":["DAC_READ_SEARCH"]}},"ports":[{"name":"http","containerPort":8081}]}]}}`)
	if resp := review(t, url, client, inject.PathNamespace, pod); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "DAC_READ_SEARCH") {
		t.Errorf("app adding DAC_READ_SEARCH: allowed %v, patch %d bytes, status %+v; want refused naming it", resp.Allowed, len(resp.Patch), resp.Result)
	}
	plain := bytes.Replace(pod, []byte(`"securityContext":{"capabilities":{"add":["DAC_READ_SEARCH"]}},`), nil, 1)
	_, injected, _ := injectPod(t, url, client, inject.PathNamespace, plain)
	debug := bytes.Replace(injected, []byte(`"spec":{`), []byte(`"spec":{"ephemeralContainers":[{"name":"debugger","image":"busybox","securityContext":{"capabilities":{"add":["cap_dac_read_search"]}}}],`), 1)
	if resp := guardUpdate(t, url, client, injected, debug); resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, `container "debugger"`) {
		t.Errorf("ephemeral container adding DAC_READ_SEARCH: allowed %v, status %+v; want refused naming it", resp.Allowed, resp.Result)
	}
}
