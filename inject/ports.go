package inject

import (
	"fmt"
)

// route finds the app's port the sidecar forwards to and takes over its
// name: the app's port named PortName becomes PortName+"-app" and the
// sidecar's listen port is named PortName, so a Service whose targetPort
// is that name reaches the sidecar. The upstream port is the annotation's,
// else that named port's, else the first port of the first container.
func (s *settings) route(spec map[string]any, res *Result) error {
	named, container, err := s.namedPort(spec)
	if err != nil {
		return err
	}
	switch {
	case s.upstreamPort != 0:
	case named != nil:
		s.upstreamPort, _ = integer(named["containerPort"])
	default:
		s.upstreamPort = firstPort(spec)
		if s.upstreamPort == 0 {
			return fmt.Errorf("%w: the pod has no container port named %q and no %s annotation", ErrNoUpstream, s.PortName, AnnotationUpstreamPort)
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("portcullis: no container port is named %q; the sidecar listens on %d (named %q) and forwards to 127.0.0.1:%d: point the Service's targetPort at %q", s.PortName, s.ListenPort, s.PortName, s.upstreamPort, s.PortName))
	}
	if err := s.checkClashes(spec); err != nil {
		return err
	}
	if err := checkHostPort(spec, s.upstreamPort, s.AdminPort); err != nil {
		return err
	}
	if named != nil {
		if ct := portNamed(spec, s.PortName+"-app"); ct != "" {
			return fmt.Errorf("container %q already has a port named %q, the name the app's port %q takes: rename that port", ct, s.PortName+"-app", s.PortName)
		}
		named["name"] = s.PortName + "-app"
		renameProbePorts(container, s.PortName, s.PortName+"-app")
	}
	res.Warnings = append(res.Warnings, s.probeWarnings(spec)...)
	return nil
}

// namedPort returns the app's container port named PortName and its
// container, or nil. Port names are unique per container, not per pod: a
// second container with a port of that name is an error, since only one
// can be renamed, and a Service's named targetPort resolves the regular
// containers' ports before a native sidecar's, so it would reach the
// other container directly, past the sidecar.
func (s *settings) namedPort(spec map[string]any) (port, container map[string]any, err error) {
	for _, ct := range objects(spec, "containers") {
		for _, p := range objects(ct, "ports") {
			if str(p, "name") != s.PortName {
				continue
			}
			if port != nil {
				return nil, nil, fmt.Errorf("containers %q and %q both have a port named %q: a Service targeting it would reach one of them past the sidecar; rename the one the sidecar does not protect", str(container, "name"), str(ct, "name"), s.PortName)
			}
			port, container = p, ct
		}
	}
	return port, container, nil
}

// portNamed returns the name of the container that has a port named
// name, or "".
func portNamed(spec map[string]any, name string) string {
	for _, key := range []string{"initContainers", "containers"} {
		for _, ct := range objects(spec, key) {
			for _, p := range objects(ct, "ports") {
				if str(p, "name") == name {
					return str(ct, "name")
				}
			}
		}
	}
	return ""
}

// firstPort returns the first container's first TCP port, or 0.
func firstPort(spec map[string]any) int {
	cts := objects(spec, "containers")
	if len(cts) == 0 {
		return 0
	}
	for _, p := range objects(cts[0], "ports") {
		if proto := str(p, "protocol"); proto == "" || proto == "TCP" {
			n, _ := integer(p["containerPort"])
			return n
		}
	}
	return 0
}

// checkClashes refuses a pod whose containers already use the sidecar's
// ports (all containers of a pod share its network namespace), or whose
// upstream is the sidecar's own port.
func (s *settings) checkClashes(spec map[string]any) error {
	if s.upstreamPort == s.ListenPort || s.upstreamPort == s.AdminPort {
		return fmt.Errorf("the app's port %d is the sidecar's listen or admin port: set annotation %s to another port", s.upstreamPort, AnnotationListenPort)
	}
	for _, key := range []string{"initContainers", "containers"} {
		for _, ct := range objects(spec, key) {
			for _, p := range objects(ct, "ports") {
				n, _ := integer(p["containerPort"])
				if n == s.ListenPort || n == s.AdminPort {
					return fmt.Errorf("container %q already uses port %d, which the sidecar needs: set annotation %s", str(ct, "name"), n, AnnotationListenPort)
				}
			}
		}
	}
	return nil
}

// checkHostPort refuses a hostPort on the upstream port: the node's port
// forwards to that port on the pod's IP, which is the app's, past the
// sidecar. It holds a sidecar the pod brought (broughtUpstream) as well
// as the one the injector adds: a pod carrying a copy of the injector's
// sidecar was only labelled, and its app's port kept its hostPort. A
// hostPort on the sidecar's admin port (the injector writes none) is
// refused too: the node's port reached /metrics and /readyz from wherever
// the node is reachable, past the NetworkPolicy that admits the admin
// port from the monitoring namespace only, as the main port's is admitted
// to the sidecar alone.
func checkHostPort(spec map[string]any, upstream, admin int) error {
	for _, key := range []string{"initContainers", "containers"} {
		for _, ct := range objects(spec, key) {
			for _, p := range objects(ct, "ports") {
				n, _ := integer(p["containerPort"])
				h, _ := integer(p["hostPort"])
				switch {
				case h != 0 && n == upstream:
					return fmt.Errorf("container %q: port %d, which the sidecar protects, has hostPort %d: the node's port would reach the app past the sidecar; remove the hostPort", str(ct, "name"), n, h)
				case h != 0 && n == admin:
					return fmt.Errorf("container %q: port %d, the sidecar's admin port (/metrics, /readyz), has hostPort %d: the node's port would reach it from anywhere, past the NetworkPolicy that admits it from monitoring only; remove the hostPort", str(ct, "name"), n, h)
				}
			}
		}
	}
	return nil
}

// broughtUpstream, broughtAdmin and broughtListen are the port the pod's
// sidecar forwards to (its --upstream), its admin port (--admin) and the
// port it listens on (--listen), or 0.
func broughtUpstream(spec map[string]any) int {
	args, _ := sidecarContainer(spec)["args"].([]any)
	return hostPort(flagValue(args, "upstream"), "127.0.0.1")
}

func broughtAdmin(spec map[string]any) int {
	args, _ := sidecarContainer(spec)["args"].([]any)
	return hostPort(flagValue(args, "admin"), "0.0.0.0")
}

func broughtListen(spec map[string]any) int {
	args, _ := sidecarContainer(spec)["args"].([]any)
	return hostPort(flagValue(args, "listen"), "0.0.0.0")
}

var probeKinds = []string{"livenessProbe", "readinessProbe", "startupProbe"}

// probeHandlers returns the handlers of a probe that name a port.
func probeHandlers(probe map[string]any) []map[string]any {
	var out []map[string]any
	for _, key := range []string{"httpGet", "tcpSocket", "grpc"} {
		if h := object(probe, key); h != nil {
			out = append(out, h)
		}
	}
	return out
}

// renameProbePorts rewrites the probes of ct that name port from to name
// it to: kubelet resolves a probe's named port among the container's own
// ports, where from no longer exists.
func renameProbePorts(ct map[string]any, from, to string) {
	for _, kind := range probeKinds {
		for _, h := range probeHandlers(object(ct, kind)) {
			if h["port"] == from {
				h["port"] = to
			}
		}
	}
}

// probeWarnings names the probes that target the upstream port: the app
// should listen on loopback there, out of kubelet's reach.
func (s *settings) probeWarnings(spec map[string]any) []string {
	var out []string
	for _, ct := range objects(spec, "containers") {
		for _, kind := range probeKinds {
			for _, h := range probeHandlers(object(ct, kind)) {
				if s.isUpstream(ct, h["port"]) {
					out = append(out, fmt.Sprintf("portcullis: container %q: the %s targets port %d, which the sidecar protects; an app listening on loopback only cannot be probed there by kubelet: serve probes on another port", str(ct, "name"), kind, s.upstreamPort))
				}
			}
		}
	}
	return out
}

// isUpstream reports whether a probe's port (a number or a name of ct's
// ports) is the upstream port.
func (s *settings) isUpstream(ct map[string]any, port any) bool {
	if n, ok := integer(port); ok {
		return n == s.upstreamPort
	}
	name, _ := port.(string)
	for _, p := range objects(ct, "ports") {
		if str(p, "name") == name {
			n, _ := integer(p["containerPort"])
			return n == s.upstreamPort
		}
	}
	return false
}
