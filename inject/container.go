package inject

import (
	"fmt"
	"strings"
	"time"
)

// The sidecar's volumes and where they are mounted.
const (
	volState = "portcullis-state"
	volTLS   = "portcullis-tls"
	volToken = "portcullis-token"

	stateDir = "/var/lib/portcullis"
	tlsDir   = "/etc/portcullis/tls"
	tokenDir = "/etc/portcullis/collector"

	adminPortName = "portcullis-adm"

	// legacyStartWait bounds the legacy sidecar's postStart hook: how
	// long the app's start waits for the sidecar to listen.
	legacyStartWait = "1m"
)

// addContainer adds the sidecar: first among the init containers with
// restartPolicy Always (a native sidecar: started before the rest, stopped
// after the app), or, in legacy mode, first among the containers.
func (s *settings) addContainer(spec map[string]any) {
	ct := s.container()
	key := "initContainers"
	if s.Legacy {
		key = "containers"
		// An exec hook rather than the kubelet's sleep action, which needs
		// 1.30 (legacy mode is for clusters before 1.29); the image has no
		// shell, so portcullis itself waits.
		wait := []any{s.Binary, "wait", time.Duration(s.DrainDelay).String()}
		// The kubelet starts the next container (the app) once the
		// postStart hook returns: without it the app, started while the
		// sidecar waits for etcd, could bind the sidecar's port first
		// and answer the Service itself.
		listening := []any{s.Binary, "wait", fmt.Sprintf("--listening=127.0.0.1:%d", s.ListenPort), legacyStartWait}
		ct["lifecycle"] = map[string]any{
			"preStop":   map[string]any{"exec": map[string]any{"command": wait}},
			"postStart": map[string]any{"exec": map[string]any{"command": listening}},
		}
	} else {
		ct["restartPolicy"] = "Always"
	}
	list, _ := spec[key].([]any)
	spec[key] = append([]any{ct}, list...)
}

// container is the sidecar container.
func (s *settings) container() map[string]any {
	ct := map[string]any{
		"name":  ContainerName,
		"image": s.Image,
		"args":  s.args(),
		"env": []any{
			fieldEnv("POD_NAME", "metadata.name"),
			fieldEnv("POD_NAMESPACE", "metadata.namespace"),
		},
		"ports": []any{
			map[string]any{"name": s.PortName, "containerPort": s.ListenPort, "protocol": "TCP"},
			map[string]any{"name": adminPortName, "containerPort": s.AdminPort, "protocol": "TCP"},
		},
		"startupProbe":    httpProbe("/healthz", s.AdminPort, 1, 30),
		"readinessProbe":  httpProbe("/readyz", s.AdminPort, 2, 3),
		"livenessProbe":   httpProbe("/healthz", s.AdminPort, 10, 3),
		"resources":       s.resources(),
		"securityContext": s.securityContext(),
		"volumeMounts": []any{
			map[string]any{"name": volState, "mountPath": stateDir},
			map[string]any{"name": volTLS, "mountPath": tlsDir, "readOnly": true},
			map[string]any{"name": volToken, "mountPath": tokenDir, "readOnly": true},
		},
	}
	if s.ImagePullPolicy != "" {
		ct["imagePullPolicy"] = s.ImagePullPolicy
	}
	return ct
}

// args are the flags of `portcullis sidecar` (docs/cli.md).
func (s *settings) args() []any {
	a := []string{
		"sidecar",
		fmt.Sprintf("--listen=0.0.0.0:%d", s.ListenPort),
		fmt.Sprintf("--upstream=127.0.0.1:%d", s.upstreamPort),
		fmt.Sprintf("--admin=0.0.0.0:%d", s.AdminPort),
		"--etcd=" + s.Etcd.Endpoints,
		"--prefix=" + s.Prefix,
		"--etcd-cacert=" + tlsDir + "/ca.crt",
		"--etcd-cert=" + tlsDir + "/tls.crt",
		"--etcd-key=" + tlsDir + "/tls.key",
		"--state-dir=" + stateDir + "/state",
		"--spool=" + stateDir + "/spool",
		"--spool-max=" + s.SpoolMax + "B",
		"--collector=" + s.Collector.URL,
		"--collector-token-file=" + tokenDir + "/token",
		"--drain-delay=" + time.Duration(s.DrainDelay).String(),
		"--drain=" + time.Duration(s.Drain).String(),
		"--log-level=" + s.LogLevel,
	}
	if strings.HasPrefix(s.Collector.URL, "https://") {
		a = append(a, "--collector-cacert="+tlsDir+"/ca.crt")
	}
	if s.service != "" {
		a = append(a, "--service="+s.service)
	}
	if s.Legacy {
		// A regular container gets SIGTERM with the app: after its drain
		// it keeps the port, answering 503, until the app is gone, so an
		// app ignoring SIGTERM cannot take it for the grace period left.
		a = append(a, "--hold-port=true")
	}
	out := make([]any, len(a))
	for i, v := range a {
		out[i] = v
	}
	return out
}

func fieldEnv(name, path string) map[string]any {
	return map[string]any{"name": name, "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": path}}}
}

func httpProbe(path string, port, period, failures int) map[string]any {
	return map[string]any{
		"httpGet":          map[string]any{"path": path, "port": port},
		"periodSeconds":    period,
		"failureThreshold": failures,
	}
}

func (s *settings) resources() map[string]any {
	req, lim := map[string]any{}, map[string]any{}
	for _, r := range []struct {
		m    map[string]any
		name string
		q    string
	}{{req, "cpu", s.Resources.CPURequest}, {req, "memory", s.Resources.MemoryRequest},
		{lim, "cpu", s.Resources.CPULimit}, {lim, "memory", s.Resources.MemoryLimit}} {
		if r.q != "" {
			r.m[r.name] = r.q
		}
	}
	out := map[string]any{}
	if len(req) > 0 {
		out["requests"] = req
	}
	if len(lim) > 0 {
		out["limits"] = lim
	}
	return out
}

// securityContext: non-root, read-only root filesystem, no privilege
// escalation, every capability dropped, the runtime's default seccomp
// profile (the "restricted" Pod Security Standard).
func (s *settings) securityContext() map[string]any {
	return map[string]any{
		"runAsNonRoot":             true,
		"runAsUser":                s.RunAsUser,
		"runAsGroup":               s.RunAsUser,
		"readOnlyRootFilesystem":   true,
		"allowPrivilegeEscalation": false,
		"privileged":               false,
		"capabilities":             map[string]any{"drop": []any{"ALL"}},
		"seccompProfile":           map[string]any{"type": "RuntimeDefault"},
	}
}
