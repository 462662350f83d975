// Package inject adds the Portcullis sidecar to Kubernetes pods: offline,
// to the workloads of a manifest (Inject, for `portcullis inject`), and
// online, as a mutating admission webhook answering AdmissionReview with
// a JSONPatch (Webhook, for `portcullis injector`).
//
// It works on the generic form of the objects (map[string]any, as
// encoding/json or go.yaml.in/yaml/v3 decode them) rather than on the
// k8s.io/api types, so that the binary every sidecar runs does not link
// the Kubernetes API machinery; every field it does not change is carried
// through as it was. The tests decode what it writes strictly into the
// k8s.io/api types.
//
// The injected container is a native sidecar (an init container with
// restartPolicy Always, Kubernetes 1.29+): it starts before the app and
// stops after it. Config.Legacy adds it as the first regular container
// instead, with a preStop hook waiting the drain delay. The app's port that
// the Service targets (the port named Config.PortName, "http") is renamed
// to "<name>-app" and the sidecar takes the name, so the Service reaches
// the sidecar without being changed; the app listens on loopback and the
// sidecar forwards to 127.0.0.1:<app port>. Probes are left direct (see
// Pod): a probe of the protected port is answered with a warning.
//
// A Config is read-only once in use: Webhook and Inject may run from any
// number of goroutines.
package inject
