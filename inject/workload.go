package inject

import (
	"fmt"
	"slices"
	"strings"
)

// template returns the metadata and spec of the pod an object makes, and
// whether its pods belong to a Job; ok is false for every other kind.
// Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and
// CronJobs make pods.
func template(obj map[string]any) (meta, spec map[string]any, job, ok bool) {
	kind := str(obj, "kind")
	switch kind {
	case "Pod":
		spec = object(obj, "spec")
		return child(obj, "metadata"), spec, false, spec != nil
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		t := object(object(obj, "spec"), "template")
		spec = object(t, "spec")
		if spec == nil {
			return nil, nil, false, false
		}
		return child(t, "metadata"), spec, kind == "Job", true
	case "CronJob":
		t := object(object(object(object(obj, "spec"), "jobTemplate"), "spec"), "template")
		spec = object(t, "spec")
		if spec == nil {
			return nil, nil, false, false
		}
		return child(t, "metadata"), spec, true, true
	}
	return nil, nil, false, false
}

// ExcludedNamespaces are the namespaces whose pods are never injected:
// the control plane's own (its etcd, collector and injector cannot wait on
// a sidecar that needs them) and the system's. The webhooks'
// namespaceSelectors of the kustomize base leave them out
// (TestKustomizeBase), and Object leaves their workloads alone.
var ExcludedNamespaces = []string{"portcullis", "kube-system", "kube-public", "kube-node-lease", "cert-manager"}

// SkipExcludedNamespace is the Result.Skipped of a workload in one of
// ExcludedNamespaces.
const SkipExcludedNamespace = "its namespace is never injected (the control plane's or the system's)"

// Object injects the sidecar into the pod template of obj (see template
// for the kinds), in place; a List's items each in turn. Other objects
// are left alone (Result.Skipped "not a workload"), and so are the
// workloads of ExcludedNamespaces, with a warning.
func (c Config) Object(obj map[string]any) ([]Result, error) {
	if str(obj, "kind") == "List" {
		return c.list(obj)
	}
	meta, spec, job, ok := template(obj)
	if !ok {
		return []Result{{Skipped: "not a workload"}}, nil
	}
	kind, name := str(obj, "kind"), str(object(obj, "metadata"), "name")
	ns := str(object(obj, "metadata"), "namespace")
	if slices.Contains(ExcludedNamespaces, ns) {
		// `kubectl kustomize deploy/kubernetes | portcullis inject -f -`
		// gave etcd, the collector and the injector sidecars that wait
		// for etcd and the collector: the control plane never started.
		return []Result{{Skipped: SkipExcludedNamespace, Warnings: []string{fmt.Sprintf("%s %q: not injected: namespace %q %s", kind, name, ns, strings.TrimPrefix(SkipExcludedNamespace, "its namespace "))}}}, nil
	}
	r, err := c.Pod(ns, meta, spec, job)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", kind, name, err)
	}
	if r.Injected || r.Skipped == SkipInjected {
		if err := checkSelector(obj); err != nil {
			return nil, fmt.Errorf("%s %q: %w", kind, name, err)
		}
		// The pods asked for the sidecar they have: applied to a
		// namespace not labelled for injection, sidecar-secrets-policy.yaml
		// refuses a pod holding the sidecar's Secrets that does not, and
		// the per-pod webhook holds the sidecar of one that does to the
		// injector's (docs/kubernetes.md, "Injection").
		child(meta, "annotations")[AnnotationInject] = "true"
	}
	// Named as the errors are: a manifest holds many workloads. The
	// webhook's warnings (one pod each) keep their "portcullis: ".
	for i, w := range r.Warnings {
		r.Warnings[i] = fmt.Sprintf("%s %q: %s", kind, name, strings.TrimPrefix(w, "portcullis: "))
	}
	return []Result{r}, nil
}

func (c Config) list(obj map[string]any) ([]Result, error) {
	var out []Result
	for _, item := range objects(obj, "items") {
		r, err := c.Object(item)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	return out, nil
}

// checkSelector refuses a workload whose selector names LabelListenPort.
// The label is the injector's, written on a pod whose sidecar moved and
// removed from every other: a selector on it no longer selected the
// injected template (the API server refuses that), or tied an immutable
// selector to a label the next injection may change
// (TestInjectRefusesASelectorOnTheListenPortLabel).
func checkSelector(obj map[string]any) error {
	spec := object(obj, "spec")
	if str(obj, "kind") == "CronJob" {
		spec = object(object(spec, "jobTemplate"), "spec")
	}
	sel := object(spec, "selector")
	_, named := object(sel, "matchLabels")[LabelListenPort]
	for _, e := range objects(sel, "matchExpressions") {
		named = named || str(e, "key") == LabelListenPort
	}
	if named {
		return fmt.Errorf("spec.selector names the label %s, which the injector writes on the pod template (and removes when the sidecar listens on listenPort): select the pods by the app's own labels", LabelListenPort)
	}
	return nil
}
