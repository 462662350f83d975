package inject

import (
	"errors"
	"fmt"
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
	if err == nil && has {
		err = checkHostPort(spec, broughtUpstream(spec))
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
