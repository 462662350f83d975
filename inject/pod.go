package inject

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
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
// Pod's, or a workload's template), changing them in place. ns is the
// pod's namespace, which binds its service name (Config.Services); ""
// when unknown (a manifest naming none), which leaves the name unchecked
// until the webhook sees the pod. job says the
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
func (c Config) Pod(ns string, meta, spec map[string]any, job bool) (Result, error) {
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
	if err == nil && has {
		err = checkHostPort(spec, broughtUpstream(spec), broughtAdmin(spec))
	}
	if err == nil && has {
		err = c.checkBroughtService(ns, spec)
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
		c.labelListenPort(meta, broughtListen(spec))
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
	if s.service, err = c.serviceFor(ns, s.service, meta); err != nil {
		return Result{}, err
	}
	if err := s.addVolumes(spec); err != nil {
		return Result{}, err
	}
	s.addContainer(spec)
	s.raiseGracePeriod(spec)
	child(meta, "annotations")[AnnotationStatus] = "injected"
	child(meta, "labels")[LabelSidecar] = "injected"
	c.labelListenPort(meta, s.ListenPort)
	res.Injected = true
	return res, nil
}

// serviceFor is the service.name of the audit records of a pod of
// namespace ns: the annotation, which must name one of the namespace's
// services (Config.servicesOf), else the app.kubernetes.io/name or app
// label when it names one, else the namespace's first. The label is the
// author's to write as well, but it is a default, not an ask: one naming
// another service is passed over rather than refused. ns "" (unknown,
// offline) takes the annotation or label unchecked: the webhook checks
// the sidecar's --service when the pod is created (checkBroughtService).
func (c Config) serviceFor(ns, annotated string, meta map[string]any) (string, error) {
	allowed := func(name string) bool { return ns == "" || slices.Contains(c.servicesOf(ns), name) }
	if annotated != "" {
		if !allowed(annotated) {
			return "", c.errService(ns, annotated, "annotation "+AnnotationService)
		}
		return annotated, nil
	}
	labels := object(meta, "labels")
	for _, key := range []string{"app.kubernetes.io/name", "app"} {
		if v := str(labels, key); v != "" && serviceName.MatchString(v) && allowed(v) {
			return v, nil
		}
	}
	if ns == "" {
		return "", nil
	}
	names := c.servicesOf(ns)
	if len(names) == 0 {
		return "", c.errService(ns, ns, "the namespace's own name")
	}
	return names[0], nil
}

// checkBroughtService refuses a sidecar the pod brought whose --service
// names a service its namespace may not (Config.servicesOf); without
// --service the sidecar names the generic "portcullis". ns "" is
// unchecked (serviceFor).
func (c Config) checkBroughtService(ns string, spec map[string]any) error {
	args, _ := sidecarContainer(spec)["args"].([]any)
	name := flagValue(args, "service")
	if ns == "" || name == "" || slices.Contains(c.servicesOf(ns), name) {
		return nil
	}
	return fmt.Errorf("container %q is not the injector's sidecar: %w", ContainerName, c.errService(ns, name, "--service"))
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

// labelListenPort sets the label LabelListenPort to the sidecar's port
// when it is not ListenPort, and removes one the author wrote when it is:
// a pod labelled with another port would meet that port's policy, which
// admits it to the app past the sidecar.
func (c Config) labelListenPort(meta map[string]any, port int) {
	labels := child(meta, "labels")
	if port == c.ListenPort {
		delete(labels, LabelListenPort)
		return
	}
	labels[LabelListenPort] = strconv.Itoa(port)
}

// checkListenPortLabel refuses a pod with the sidecar whose label
// LabelListenPort is not what labelListenPort writes.
func (c Config) checkListenPortLabel(pod map[string]any) error {
	want := map[string]any{}
	c.labelListenPort(map[string]any{"labels": want}, broughtListen(object(pod, "spec")))
	got, has := object(object(pod, "metadata"), "labels")[LabelListenPort]
	if w, ok := want[LabelListenPort]; ok != has || ok && got != w {
		return fmt.Errorf("the pod's label %s is %v, not what the injector writes for its sidecar's port (%v; none for listenPort %d): "+
			"the namespace's NetworkPolicies select by it; let the injector write it (remove the annotation %s: \"false\")",
			LabelListenPort, orNone(got, has), orNone(w, ok), c.ListenPort, AnnotationInject)
	}
	return nil
}

func orNone(v any, ok bool) any {
	if !ok {
		return "none"
	}
	return fmt.Sprintf("%q", v)
}
