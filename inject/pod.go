package inject

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Result says what Pod did with one pod template.
type Result struct {
	// Injected is true when the sidecar was added.
	Injected bool
	// Skipped says why it was not ("opted out", "already injected", ...).
	Skipped string
	// Warnings are for the user: kubectl prints an admission response's
	// warnings, `portcullis inject` prints them on stderr.
	Warnings []string
}

// Skip reasons of Result.
const (
	SkipOptedOut    = "opted out (" + AnnotationInject + ": \"false\")"
	SkipInjected    = "already injected"
	SkipNoPort      = "no port to protect"
	SkipHostNetwork = "the pod uses the node's network (hostNetwork): its loopback is the node's, and the sidecar's ports would clash across pods"
	SkipLegacyJob   = "legacy mode does not inject a Job's pod: a regular sidecar container would keep it from completing"
)

// ErrNoUpstream means the pod has no port for the sidecar to protect.
var ErrNoUpstream = errors.New("inject: no upstream port")

// Pod adds the sidecar to the pod whose metadata and spec are given (a
// Pod's, or a workload's template), changing them in place. job says the
// pod belongs to a Job (legacy mode leaves those alone). A pod that opted
// out is left unchanged, and so is one that already has the sidecar
// (hasSidecar) but for the label LabelSidecar, added when missing; a pod whose
// annotations are malformed, or whose ports clash with the sidecar's, is
// an error; a pod without a port to protect is left alone with a warning
// (it serves nothing the sidecar could guard).
//
// Probes are left direct: kubelet probes the pod IP, and a probe of a
// renamed port is rewritten to the new name so that it still resolves. A
// probe of the protected port itself gets a warning, since the app
// listens on loopback (the sidecar is its only way in) and kubelet cannot
// reach it there.
func (c Config) Pod(meta, spec map[string]any, job bool) (Result, error) {
	if err := checkInject(meta); err != nil {
		return Result{}, err
	}
	annotations := object(meta, "annotations")
	if str(annotations, AnnotationInject) == "false" {
		return Result{Skipped: SkipOptedOut}, nil
	}
	has, err := hasSidecar(spec, c)
	if err == nil {
		err = c.checkPodWide(spec)
	}
	if err == nil && (has && sidecarIsRegular(spec) || !has && c.Legacy) {
		err = checkStartsAfterInit(spec)
	}
	switch {
	case err != nil:
		return Result{}, err
	case spec["hostNetwork"] == true: // before has: a sidecar there guards nothing
		return Result{Skipped: SkipHostNetwork, Warnings: []string{"portcullis: not injected: " + SkipHostNetwork}}, nil
	case has:
		// The label is what the namespace's NetworkPolicy selects: a pod
		// that brought the sidecar without it was open on every port.
		child(meta, "labels")[LabelSidecar] = "injected"
		return Result{Skipped: SkipInjected}, nil
	case c.Legacy && job:
		return Result{Skipped: SkipLegacyJob, Warnings: []string{"portcullis: " + SkipLegacyJob}}, nil
	}
	s, err := podSettings(c, annotations)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if err := s.route(spec, &res); errors.Is(err, ErrNoUpstream) {
		return Result{Skipped: SkipNoPort, Warnings: []string{"portcullis: not injected: " + err.Error()}}, nil
	} else if err != nil {
		return Result{}, err
	}
	s.service = serviceOf(s.service, meta)
	if err := s.addVolumes(spec); err != nil {
		return Result{}, err
	}
	s.addContainer(spec)
	s.raiseGracePeriod(spec)
	child(meta, "annotations")[AnnotationStatus] = "injected"
	child(meta, "labels")[LabelSidecar] = "injected"
	res.Injected = true
	return res, nil
}

// hasSidecar reports whether the pod already has the sidecar: a container
// named ContainerName running `portcullis sidecar` from the repository of
// image (any tag or digest: a workload injected offline before an upgrade
// keeps its older tag). The status annotation alone does not count (a
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
		for _, ct := range objects(spec, key) {
			if str(ct, "name") != ContainerName {
				continue
			}
			args, _ := ct["args"].([]any)
			if len(args) == 0 || args[0] != "sidecar" {
				return false, fmt.Errorf("container %q has the sidecar's name but does not run `portcullis sidecar`: rename it", ContainerName)
			}
			if got := str(ct, "image"); imageRepo(got) != imageRepo(c.Image) {
				return false, fmt.Errorf("container %q runs the sidecar from image %q, not from %s: only the configured image counts as the sidecar", ContainerName, got, imageRepo(c.Image))
			}
			if cmd, _ := ct["command"].([]any); len(cmd) > 0 {
				return false, fmt.Errorf("container %q sets a command: the injector's sidecar runs the image's own", ContainerName)
			}
			err := sidecarFlagsOK(args[1:], c)
			if err == nil {
				err = sidecarWiringOK(spec, ct, args[1:], c)
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
	}
	free := map[string]bool{"listen": true, "upstream": true, "admin": true, "prefix": true, "state-dir": true, "spool": true,
		"spool-max": true, "drain-delay": true, "drain": true, "log-level": true, "service": true}
	seen, given := map[string]bool{}, map[string]bool{}
	for _, a := range args {
		arg, _ := a.(string)
		name, value, ok := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		if !ok || !strings.HasPrefix(arg, "--") {
			return fmt.Errorf("argument %q is not a --flag=value the injector writes", arg)
		}
		if given[name] {
			// The injector writes each once, and the sidecar refuses a
			// flag given twice (the flag package took the last: a second
			// --listen moved the sidecar off the port its container
			// declares).
			return fmt.Errorf("flag --%s is given twice", name)
		}
		given[name] = true
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

// checkPodWide refuses what in a pod's spec reaches into the sidecar
// whatever its own container says: the app mounting its volumes, sharing
// its process namespace, or choosing how it resolves etcd and the
// collector.
func (c Config) checkPodWide(spec map[string]any) error {
	if err := checkSidecarMounts(spec); err != nil {
		return err
	}
	if spec["shareProcessNamespace"] == true {
		return errSharedPIDs
	}
	return c.checkResolution(spec)
}

// checkResolution refuses a pod that decides where the sidecar's etcd and
// collector names lead: /etc/hosts and resolv.conf are the pod's, so a
// hostAliases entry for one of them, or nameservers of the author's
// (dnsConfig, with dnsPolicy None or options rotate), send the sidecar to
// a server of the author's. TLS verification of the Portcullis CA stands
// in its way only as long as no one else can have a certificate of that
// CA for the name issued.
func (c Config) checkResolution(spec map[string]any) error {
	hosts := c.sidecarHosts()
	for _, a := range objects(spec, "hostAliases") {
		names, _ := a["hostnames"].([]any)
		for _, n := range names {
			name := strings.TrimSuffix(strings.ToLower(fmt.Sprint(n)), ".")
			for _, h := range hosts {
				if name == h || strings.HasPrefix(name, h+".") {
					return fmt.Errorf("hostAliases names %q, a host the sidecar connects to (etcd or the collector): the sidecar would reach the pod's choice of address; remove it", n)
				}
			}
		}
	}
	if spec["dnsPolicy"] == "None" {
		return errors.New("dnsPolicy None lets the pod choose the nameservers the sidecar resolves etcd and the collector with; use ClusterFirst")
	}
	if ns, _ := object(spec, "dnsConfig")["nameservers"].([]any); len(ns) > 0 {
		return fmt.Errorf("dnsConfig.nameservers %v would answer the sidecar's lookups of etcd and the collector; remove them", ns)
	}
	return nil
}

// sidecarHosts are the lowercase host names of the etcd endpoints and the
// collector URL.
func (c Config) sidecarHosts() []string {
	var hosts []string
	for _, e := range append(strings.Split(c.Etcd.Endpoints, ","), c.Collector.URL) {
		if e = strings.TrimSpace(e); !strings.Contains(e, "://") {
			e = "//" + e // host:port
		}
		if u, err := url.Parse(e); err == nil && u.Hostname() != "" {
			hosts = append(hosts, strings.TrimSuffix(strings.ToLower(u.Hostname()), "."))
		}
	}
	return hosts
}

// sidecarIsRegular reports whether the pod's sidecar is a regular
// container (legacy mode), not an init container.
func sidecarIsRegular(spec map[string]any) bool {
	return slices.ContainsFunc(objects(spec, "containers"), func(ct map[string]any) bool { return str(ct, "name") == ContainerName })
}

// checkStartsAfterInit refuses, for a sidecar that is a regular container,
// an init container with restartPolicy Always (a native sidecar of the
// author's): it starts before every regular container and keeps running,
// so it could bind the sidecar's port first, and answer the postStart
// hook's check that something listens there, for the app.
func checkStartsAfterInit(spec map[string]any) error {
	for _, ct := range objects(spec, "initContainers") {
		if str(ct, "restartPolicy") == "Always" {
			return fmt.Errorf("init container %q has restartPolicy Always: it starts before the legacy sidecar (a regular container) and keeps running, so it could take the sidecar's port; make it a regular container, or use native sidecars (legacy: false)", str(ct, "name"))
		}
	}
	return nil
}

// errSharedPIDs refuses a pod sharing one process namespace between its
// containers: the app would see the sidecar's processes, and as root
// (CAP_KILL is in the runtime's default set) or as the sidecar's user
// (the author's to choose) it could kill the sidecar, bind its port while
// kubelet waits out the restart back-off and answer the Service itself,
// or read the sidecar's files through /proc/<pid>/root.
var errSharedPIDs = errors.New("the pod sets shareProcessNamespace: the app could signal the sidecar's process, take its port while it restarts, and read its files through /proc; remove shareProcessNamespace")

// checkSidecarMounts refuses a pod whose containers, other than the
// sidecar, mount one of the sidecar's volumes. A pod's author may name
// them in the app's volumeMounts before they exist: the API server
// validates the pod after the injector added them. An app mounting the
// state volume could plant the last-known-good policy the sidecar serves
// while etcd is unreachable (as root, or as the sidecar's user, both the
// author's to choose, the file passes the sidecar's ownership check) and
// rewrite or drop the audit spool before the collector has it.
func checkSidecarMounts(spec map[string]any) error {
	for _, key := range []string{"initContainers", "containers"} {
		for _, ct := range objects(spec, key) {
			if str(ct, "name") == ContainerName {
				continue // the sidecar (hasSidecar vouched for it)
			}
			for _, m := range objects(ct, "volumeMounts") {
				if n := str(m, "name"); n == volState || n == volTLS || n == volToken {
					return fmt.Errorf("container %q mounts the volume %q, which is the sidecar's own: only the sidecar may mount it (its state and audit spool are not the app's to write); remove the mount", str(ct, "name"), n)
				}
			}
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

// imageRepo is an image reference without its tag and digest.
func imageRepo(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref
}

// serviceOf is the service.name of the audit records: the annotation,
// else the app.kubernetes.io/name or app label, else "" (the sidecar's
// default).
func serviceOf(annotated string, meta map[string]any) string {
	if annotated != "" {
		return annotated
	}
	labels := object(meta, "labels")
	for _, key := range []string{"app.kubernetes.io/name", "app"} {
		if v := str(labels, key); v != "" && serviceName.MatchString(v) {
			return v
		}
	}
	return ""
}

// raiseGracePeriod makes the pod's grace period cover the sidecar's drain
// delay, drain and audit flush (and, in legacy mode, the preStop sleep).
func (s *settings) raiseGracePeriod(spec map[string]any) {
	need := time.Duration(s.DrainDelay) + time.Duration(s.Drain) + 5*time.Second
	if s.Legacy {
		need += time.Duration(s.DrainDelay)
	}
	secs := int((need + time.Second - 1) / time.Second)
	if cur, ok := integer(spec["terminationGracePeriodSeconds"]); ok && cur >= secs {
		return
	}
	if _, ok := spec["terminationGracePeriodSeconds"]; !ok && secs <= 30 {
		return // 30 is the default
	}
	spec["terminationGracePeriodSeconds"] = secs
}

// addVolumes adds the sidecar's volumes: the state and spool directory
// (an emptyDir: it survives a container restart, not the pod's deletion),
// the TLS client certificate and the collector token.
func (s *settings) addVolumes(spec map[string]any) error {
	for _, v := range objects(spec, "volumes") {
		if n := str(v, "name"); n == volState || n == volTLS || n == volToken {
			return fmt.Errorf("pod already has a volume named %q, which the sidecar needs", n)
		}
	}
	vols, _ := spec["volumes"].([]any)
	spec["volumes"] = append(vols,
		map[string]any{"name": volState, "emptyDir": map[string]any{"sizeLimit": s.stateSizeLimit()}},
		map[string]any{"name": volTLS, "secret": map[string]any{"secretName": s.Etcd.ClientSecret}},
		map[string]any{"name": volToken, "secret": map[string]any{"secretName": s.Collector.TokenSecret}},
	)
	return nil
}

// stateSizeLimit is twice the spool bound: the spool, the snapshot and
// room for the batch being written.
func (s *settings) stateSizeLimit() string {
	q := s.SpoolMax
	n, err := strconv.Atoi(q[:len(q)-2])
	if err != nil {
		return q
	}
	return strconv.Itoa(2*n) + q[len(q)-2:]
}
