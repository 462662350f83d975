package inject

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// hasSidecar reports whether the pod already has the sidecar: a container
// named ContainerName running `portcullis sidecar` from the configured
// image, or one of AcceptedImages (a workload injected offline before an
// upgrade, while it rolls out), exactly: any tag of the image's repository
// counted, and a pod's author chose an older release, without the fixes
// since (TestWebhookRefusesAnOlderSidecarImage). The status annotation
// alone does not count (a
// pod's author can write it, and the pod would start without the
// sidecar); a container of that name running anything else, or from
// another image (one of the author's, forwarding everything to the app),
// is an error, since the sidecar cannot be added beside it.
//
// Its flags count too: the configured image run with the author's own
// policy file, etcd, certificates or collector (or none) would be a
// sidecar enforcing what its author chose, so only the flags the injector
// writes are taken (sidecarFlagsOK), those naming etcd, the certificates
// and the collector with the values it writes, and no command.
func hasSidecar(spec map[string]any, c Config) (bool, error) {
	for _, key := range []string{"initContainers", "containers"} {
		for i, ct := range objects(spec, key) {
			if str(ct, "name") != ContainerName {
				continue
			}
			args, _ := ct["args"].([]any)
			if len(args) == 0 || args[0] != "sidecar" {
				return false, fmt.Errorf("container %q has the sidecar's name but does not run `portcullis sidecar`: rename it", ContainerName)
			}
			if got := str(ct, "image"); got != c.Image && !slices.Contains(c.AcceptedImages, got) {
				return false, fmt.Errorf("container %q runs the sidecar from image %q, not the configured %q nor one of acceptedImages %q: "+
					"only those count as the sidecar (another tag may be an older release, without the fixes since); "+
					"inject the workload from its manifest again (portcullis inject -f), or have the platform team list the image in acceptedImages while it rolls out",
					ContainerName, got, c.Image, c.AcceptedImages)
			}
			if cmd, _ := ct["command"].([]any); len(cmd) > 0 {
				return false, fmt.Errorf("container %q sets a command: the injector's sidecar runs the image's own", ContainerName)
			}
			err := sidecarFlagsOK(args[1:], c)
			if err == nil {
				err = sidecarWiringOK(spec, ct, args[1:], c)
			}
			if err == nil {
				err = sidecarStartsFirst(key, i, ct, args[1:], c)
			}
			if err == nil {
				err = sidecarKeepsRunning(key, ct, args[1:], c)
			}
			if err != nil {
				return false, fmt.Errorf("container %q is not the injector's sidecar: %w (remove it and let the injector add its own)", ContainerName, err)
			}
			return true, nil
		}
	}
	return false, nil
}

// sidecarFlagsOK checks the flags of a sidecar already in a pod: each is
// one the injector writes (--name=value), and those that decide what is
// enforced and where the audit goes carry the configured values, each
// present.
func sidecarFlagsOK(args []any, c Config) error {
	pinned := map[string]string{
		"etcd":                 c.Etcd.Endpoints,
		"etcd-cacert":          tlsDir + "/ca.crt",
		"etcd-cert":            tlsDir + "/tls.crt",
		"etcd-key":             tlsDir + "/tls.key",
		"collector":            c.Collector.URL,
		"collector-token-file": tokenDir + "/token",
		// Not an annotation's: a smaller spool drops audit records as
		// soon as the collector lags.
		"spool-max": c.SpoolMax + "B",
		// Nor is the admin port: moved, it leaves the port the
		// NetworkPolicy admits from monitoring to the app.
		"admin": fmt.Sprintf("0.0.0.0:%d", c.AdminPort),
	}
	counted := map[string]bool{}
	free := map[string]bool{"listen": true, "upstream": true, "prefix": true, "state-dir": true, "spool": true,
		"drain-delay": true, "drain": true, "log-level": true, "service": true, "hold-port": true}
	seen := map[string]bool{}
	for _, a := range args {
		arg, _ := a.(string)
		name, value, ok := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		if !ok || !strings.HasPrefix(arg, "--") {
			return fmt.Errorf("argument %q is not a --flag=value the injector writes", arg)
		}
		if counted[name] {
			// The flag package takes the last: a second --listen would
			// move the sidecar off the port its container declares.
			return fmt.Errorf("flag --%s is given twice", name)
		}
		counted[name] = true
		if form, ok := shaped[name]; ok && !form(value) {
			return fmt.Errorf("--%s is %q, not a value the injector writes", name, value)
		}
		switch want, isPinned := pinned[name]; {
		case name == "collector-cacert" && value == tlsDir+"/ca.crt":
		case name == "prefix" && !c.prefixAllowed(value):
			return fmt.Errorf("--prefix %q is not an etcd prefix the injector's configuration allows: %s", value, c.allowedPrefixes())
		case isPinned && value == want:
			seen[name] = true
		case isPinned:
			return fmt.Errorf("--%s is %q, not the configured %q", name, value, want)
		case !free[name]:
			return fmt.Errorf("flag --%s is not one the injector writes", name)
		}
	}
	for name, want := range pinned {
		if !seen[name] {
			return fmt.Errorf("--%s=%s is missing", name, want)
		}
	}
	return nil
}

// shaped are the forms of the free flags that decide where the sidecar
// listens, forwards and keeps its state: the sidecar listens on every
// address (on loopback only, the app could bind the pod's IP on the same
// port), forwards to loopback, and keeps its state where its own volume
// is (elsewhere, on a volume the app shares, the app could plant its
// last-known-good policy).
var shaped = map[string]func(string) bool{
	"listen":    func(v string) bool { return hostPort(v, "0.0.0.0") != 0 },
	"admin":     func(v string) bool { return hostPort(v, "0.0.0.0") != 0 },
	"upstream":  func(v string) bool { return hostPort(v, "127.0.0.1") != 0 },
	"state-dir": func(v string) bool { return v == stateDir+"/state" },
	"spool":     func(v string) bool { return v == stateDir+"/spool" },
	// The service.name of its audit records and its log level: what the
	// annotations may set (portcullis.dev/service, portcullis.dev/log-level),
	// no more.
	"service": serviceName.MatchString,
	// Only as the injector writes it (sidecarStartsFirst requires it of
	// a regular container).
	"hold-port": func(v string) bool { return v == "true" },
	"log-level": validLogLevel,
}

// hostPort returns the port of addr when it is host:port as the injector
// writes it (a port in canonical decimal), else 0.
func hostPort(addr, host string) int {
	p, ok := strings.CutPrefix(addr, host+":")
	n, err := strconv.Atoi(p)
	if !ok || err != nil || !validPort(n) || strconv.Itoa(n) != p {
		return 0
	}
	return n
}

// flagValue returns the value of --name in args, or "".
func flagValue(args []any, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(fmt.Sprint(a), "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// sidecarWiringOK checks what, beside its flags, makes a sidecar already
// in a pod the injector's: the Services' port name is its listen port and
// no other container's, its environment is the injector's, and its
// volumes are the injector's (the state an emptyDir of the pod, the
// certificates and token from the configured Secrets). Each of these an
// author could otherwise set so that the pod counts as injected while a
// Service reaches the app directly, or the sidecar reads a CA, or keeps
// a state, of the author's.
func sidecarWiringOK(spec, ct map[string]any, args []any, c Config) error {
	listen := hostPort(flagValue(args, "listen"), "0.0.0.0")
	if listen == 0 || flagValue(args, "upstream") == "" || flagValue(args, "state-dir") == "" || flagValue(args, "spool") == "" {
		return errors.New("--listen, --upstream, --state-dir and --spool are each required")
	}
	if !c.listenPortAllowed(listen) {
		return c.errListenPort(listen)
	}
	declared := false
	for _, p := range objects(ct, "ports") {
		n, _ := integer(p["containerPort"])
		declared = declared || str(p, "name") == c.PortName && n == listen
	}
	if !declared {
		return fmt.Errorf("it declares no port named %q at its --listen port %d, so a Service targeting %q does not reach it", c.PortName, listen, c.PortName)
	}
	for _, key := range []string{"initContainers", "containers"} {
		for _, other := range objects(spec, key) {
			if str(other, "name") != ContainerName && slices.ContainsFunc(objects(other, "ports"), func(p map[string]any) bool { return str(p, "name") == c.PortName }) {
				return fmt.Errorf("container %q also has a port named %q: a Service targeting it could reach that container past the sidecar", str(other, "name"), c.PortName)
			}
		}
	}
	if err := sidecarEnvOK(ct); err != nil {
		return err
	}
	return sidecarVolumesOK(spec, ct, c)
}

// sidecarStartsFirst checks that the sidecar starts before the app and
// holds its port from then on: a native sidecar is the first init
// container, with restartPolicy Always; a regular one (legacy) is the
// first container, with the postStart hook holding the app's start until
// it listens (Config.Legacy). Else an author's container started first
// could bind the sidecar's port and answer the Service itself.
func sidecarStartsFirst(key string, i int, ct map[string]any, args []any, c Config) error {
	if i != 0 {
		return fmt.Errorf("it is not the first of the %s, so one of the author's starts before it and could take its port", key)
	}
	if key == "initContainers" {
		if str(ct, "restartPolicy") != "Always" {
			return errors.New("an init container without restartPolicy Always is not a sidecar")
		}
		return nil
	}
	hook, _ := object(object(object(ct, "lifecycle"), "postStart"), "exec")["command"].([]any)
	if len(hook) != 4 || hook[1] != "wait" || hook[2] != "--listening=127.0.0.1:"+flagValue(args, "listen")[len("0.0.0.0:"):] {
		return errors.New("as a regular container it has no postStart hook `portcullis wait --listening` on its port, so the app may start, and bind that port, first")
	}
	// It gets SIGTERM with the app: without --hold-port it releases its
	// port after the drain, where an app ignoring SIGTERM takes it for
	// the rest of the grace period. An image of acceptedImages (an older
	// release, which has no such flag) is let go without it.
	if flagValue(args, "hold-port") != "true" && str(ct, "image") == c.Image {
		return errors.New("as a regular container it has no --hold-port=true, so after its drain the app, which gets SIGTERM with it, could take its port")
	}
	return nil
}

// sidecarEnvOK allows the environment the injector writes, POD_NAME and
// POD_NAMESPACE from the pod's fields, and nothing else: the etcd
// client's gRPC dialer honours HTTPS_PROXY, and the Go runtime reads
// GODEBUG, which would change where and how the sidecar connects.
func sidecarEnvOK(ct map[string]any) error {
	if _, ok := ct["envFrom"]; ok {
		return errors.New("it sets envFrom, which the injector does not write")
	}
	want := map[string]string{"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
	for _, e := range objects(ct, "env") {
		name := str(e, "name")
		path, ok := want[name]
		if !ok || len(e) != 2 || str(object(object(e, "valueFrom"), "fieldRef"), "fieldPath") != path {
			return fmt.Errorf("environment variable %q is not one the injector writes", name)
		}
	}
	return nil
}

// sidecarVolumesOK checks the sidecar's mounts and their volumes: the
// injector's three, at its paths, whole (no subPath), the state an
// emptyDir (a volume of the pod alone) and the certificates and token
// from the configured Secrets.
func sidecarVolumesOK(spec, ct map[string]any, c Config) error {
	mounts := objects(ct, "volumeMounts")
	want := map[string]string{volState: stateDir, volTLS: tlsDir, volToken: tokenDir}
	seen := map[string]bool{}
	for _, m := range mounts {
		name, path := str(m, "name"), str(m, "mountPath")
		if want[name] != path || seen[name] || m["subPath"] != nil || m["subPathExpr"] != nil {
			return fmt.Errorf("volume mount %q at %q is not one the injector writes", name, path)
		}
		seen[name] = true
	}
	if len(seen) != len(want) {
		return fmt.Errorf("it does not mount each of %s, %s and %s", volState, volTLS, volToken)
	}
	for _, v := range objects(spec, "volumes") {
		var ok bool
		switch str(v, "name") {
		case volState:
			ok = len(v) == 2 && v["emptyDir"] != nil
		case volTLS:
			ok = len(v) == 2 && str(object(v, "secret"), "secretName") == c.Etcd.ClientSecret
		case volToken:
			ok = len(v) == 2 && str(object(v, "secret"), "secretName") == c.Collector.TokenSecret
		default:
			continue
		}
		if !ok {
			return fmt.Errorf("volume %q is not the one the injector writes (the state an emptyDir, the certificates from Secret %q, the token from Secret %q)", str(v, "name"), c.Etcd.ClientSecret, c.Collector.TokenSecret)
		}
	}
	return nil
}

// sidecarKeepsRunning checks what of a sidecar already in a pod would
// have the kubelet restart it, or start the app before it listens: its
// liveness and startup probes are the injector's (the startup probe
// required for a native sidecar, whose start the app waits for through
// it), its limits are not below the configuration's floor
// (Config.limitFloor), and its hooks are the injector's (none for a
// native sidecar). While a sidecar restarts its port is free, and an
// app binding it then keeps it and answers the Service itself.
func sidecarKeepsRunning(key string, ct map[string]any, args []any, c Config) error {
	admin := hostPort(flagValue(args, "admin"), "0.0.0.0")
	for _, p := range []struct {
		kind             string
		required         bool
		period, failures int
	}{{"livenessProbe", false, 10, 3}, {"startupProbe", key == "initContainers", 1, 30}} {
		probe, ok := ct[p.kind]
		if !ok && !p.required {
			continue
		}
		if m, _ := probe.(map[string]any); !probeIs(m, admin, p.period, p.failures) {
			return fmt.Errorf("its %s is not the injector's (httpGet /healthz on its admin port, every %ds, %d failures): the kubelet restarts a sidecar whose probe fails, and meanwhile the app could take its port", p.kind, p.period, p.failures)
		}
	}
	limits := object(object(ct, "resources"), "limits")
	for _, r := range []struct{ name, key string }{{"cpu", AnnotationCPULimit}, {"memory", AnnotationMemoryLimit}} {
		v, ok := limits[r.name]
		if !ok {
			continue // no limit
		}
		q, _ := v.(string)
		if floor, setting := c.limitFloor(r.key); !validQuantity(q) || floor != "" && quantityValue(q) < quantityValue(floor) {
			return fmt.Errorf("its %s limit %v is below the configured %s %s: a starved sidecar restarts, and meanwhile the app could take its port", r.name, v, setting, floor)
		}
	}
	lifecycle := object(ct, "lifecycle")
	if key == "initContainers" {
		if len(lifecycle) != 0 {
			return errors.New("it has lifecycle hooks, which the injector does not write for a native sidecar (a failing postStart hook restarts it)")
		}
		return nil
	}
	want := map[string][]any{
		"postStart": {c.Binary, "wait", "--listening=127.0.0.1:" + flagValue(args, "listen")[len("0.0.0.0:"):], legacyStartWait},
		"preStop":   {c.Binary, "wait", flagValue(args, "drain-delay")},
	}
	for name, h := range lifecycle {
		w, ok := want[name]
		hook, _ := h.(map[string]any)
		cmd, _ := object(hook, "exec")["command"].([]any)
		if !ok || len(hook) != 1 || !reflect.DeepEqual(cmd, w) {
			return fmt.Errorf("its %s hook is not the injector's %q: a failing hook restarts it", name, w)
		}
	}
	return nil
}

// probeIs reports whether probe is the injector's httpProbe of /healthz
// on port, with the API server's defaults filled in or not.
func probeIs(probe map[string]any, port, period, failures int) bool {
	if probe == nil {
		return false
	}
	// num: the value, or the API server's default when it is absent, is want.
	num := func(m map[string]any, key string, want, apiDefault int) bool {
		v, ok := m[key]
		if !ok {
			return want == apiDefault
		}
		n, isInt := integer(v)
		return isInt && n == want
	}
	for k := range probe {
		switch k {
		case "httpGet", "periodSeconds", "failureThreshold", "timeoutSeconds", "successThreshold", "initialDelaySeconds":
		default:
			return false
		}
	}
	get := object(probe, "httpGet")
	for k := range get {
		switch k {
		case "path", "port", "scheme":
		default:
			return false
		}
	}
	p, _ := integer(get["port"])
	scheme, hasScheme := get["scheme"]
	return str(get, "path") == "/healthz" && p == port && port != 0 && (!hasScheme || scheme == "HTTP") &&
		num(probe, "periodSeconds", period, 10) && num(probe, "failureThreshold", failures, 3) &&
		num(probe, "timeoutSeconds", 1, 1) && num(probe, "successThreshold", 1, 1) && num(probe, "initialDelaySeconds", 0, 0)
}
