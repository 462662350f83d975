package inject

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"
)

// The webhook's paths. The MutatingWebhookConfiguration of the kustomize
// base has two webhooks: one for namespaces labelled
// portcullis.dev/inject=true, calling PathNamespace (every pod is
// injected unless it opts out), and one for the other namespaces, calling
// PathInject (only a pod annotated or labelled portcullis.dev/inject:
// "true" is). An AdmissionReview does not carry the namespace's labels, so
// the path says which webhook matched.
const (
	PathInject    = "/inject"
	PathNamespace = "/inject/namespace"
	// PathGuard is the validating webhook on Pod UPDATE of injected pods
	// (Webhook.guard).
	PathGuard = "/guard"
	// PathNamespaceLabel is the validating webhook on Pod CREATE in a
	// namespace whose portcullis.dev/inject label is neither "true" nor
	// "false": it refuses every pod (mislabelled).
	PathNamespaceLabel = "/refuse/namespace-label"
	// PathVerify is the validating webhook on Pod CREATE in a namespace
	// labelled portcullis.dev/inject=true and not LabelOptOut=allowed:
	// it refuses a pod without the sidecar (Webhook.verify).
	PathVerify = "/verify"
	// PathSecrets is the validating webhook on Pod CREATE in every
	// namespace but the excluded ones: it refuses a pod that draws on the
	// sidecar's Secrets without the injector's sidecar (Webhook.secrets).
	PathSecrets = "/verify/secrets"
	// LabelOptOut is the namespace label by which the platform team lets
	// the pods of a labelled namespace opt out ("allowed").
	LabelOptOut = "portcullis.dev/opt-out"
)

// maxReviewBytes bounds a request body: the API server sends one object,
// and objects are limited to about 1.5 MiB by etcd.
const maxReviewBytes = 4 << 20

// MaxHeaderBytes bounds a request's headers (the injector's
// http.Server.MaxHeaderBytes): the API server sends a few hundred bytes
// of them, and net/http's default of 1 MiB let each connection from any
// pod that reaches the webhook's port hold that much until the header
// timeout, past the bodies' bound (maxBodyBytesHeld): 64 such
// connections took 80 MiB of the injector's 128Mi.
const MaxHeaderBytes = 16 << 10

// maxReviewValues bounds the JSON values (objects, arrays, members and
// elements) of a request body. The object is decoded into maps twice, and
// an empty object costs far more in memory than its two bytes: 4 MiB of
// "{}," took 240 MiB of heap, past the injector's memory limit, so one
// request from any pod that reaches the webhook's port could end an
// injector and, with failurePolicy Fail, stop pod creation. A pod the API
// server stores (1.5 MiB at most) holds a few thousand values.
const maxReviewValues = 100_000

// maxReviewsInFlight bounds the reviews read and decoded at once: one of
// a body near maxReviewBytes holds about 25 MiB of heap (the body, the
// object decoded twice, the patch and its base64), and the injector's
// memory limit is 128Mi. A review takes a millisecond or so; the others
// wait their turn (until their client gives up).
const maxReviewsInFlight = 2

// reviewReadTimeout bounds the reading of a body once its review holds a
// slot: the API server sends the body at once, and a client trickling
// one must not hold a slot (and so every review) for long. A variable
// only so that a test measuring memory, not trickling, can lift it.
var reviewReadTimeout = 2 * time.Second

// maxBodyBytesHeld bounds the bytes held by the bodies being read or
// waiting for a slot (six bodies near maxReviewBytes), which readBody
// charges as they come, so that with the reviews in progress
// (maxReviewsInFlight) they stay within the injector's memory limit. A
// body that would take more waits, within its read deadline, for
// another to give some back.
const maxBodyBytesHeld = 24 << 20

// bodies is what the bodies being read or waiting hold.
var bodies = struct {
	sync.Mutex
	held  int64
	freed chan struct{} // closed, and replaced, when some is given back
}{freed: make(chan struct{})}

// takeBodyBytes charges n bytes, waiting until deadline for room.
func takeBodyBytes(n int64, deadline time.Time) bool {
	for {
		bodies.Lock()
		if bodies.held+n <= maxBodyBytesHeld {
			bodies.held += n
			bodies.Unlock()
			return true
		}
		freed := bodies.freed
		bodies.Unlock()
		wait := time.Until(deadline)
		if wait <= 0 {
			return false
		}
		t := time.NewTimer(wait)
		select {
		case <-freed:
			t.Stop()
		case <-t.C:
			return false
		}
	}
}

// giveBodyBytes gives back n bytes taken by takeBodyBytes.
func giveBodyBytes(n int64) {
	if n == 0 {
		return
	}
	bodies.Lock()
	bodies.held -= n
	close(bodies.freed)
	bodies.freed = make(chan struct{})
	bodies.Unlock()
}

// errBodiesFull refuses a body that found no room before its deadline.
var errBodiesFull = errors.New("portcullis injector: too many request bodies at once; try again")

// readBody reads r to its end, charging the buffer's capacity as it
// grows (to at most twice what was received, or the declared length
// plus one) with takeBodyBytes, and returns the body and what it
// charged, which the caller gives back. A body that finds no room
// before deadline ends with errBodiesFull.
func readBody(r io.Reader, declared int64, deadline time.Time) (body []byte, held int64, err error) {
	limit := int64(maxReviewBytes + 1)
	if declared >= 0 && declared < limit {
		limit = declared + 1 // room to see the end
	}
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			n := min(max(2*int64(cap(buf)), 64<<10), limit)
			if n <= int64(cap(buf)) { // longer than declared: the bound decides
				n = min(2*int64(cap(buf)), maxReviewBytes+1)
			}
			if !takeBodyBytes(n-int64(cap(buf)), deadline) {
				return nil, held, errBodiesFull
			}
			held += n - int64(cap(buf))
			nb := make([]byte, len(buf), n)
			copy(nb, buf)
			buf = nb
		}
		k, rerr := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if rerr == io.EOF {
			return buf, held, nil
		}
		if rerr != nil {
			return buf, held, rerr
		}
	}
}

// jsonValues returns about how many values the JSON text b holds (one per
// '{', '[', ':' and ',' outside strings), counting no further than past
// limit. It does not check that b is JSON.
func jsonValues(b []byte, limit int) int {
	n, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			escaped = c == '\\'
			inString = c != '"'
		case c == '"':
			inString = true
		case c == '{' || c == '[' || c == ':' || c == ',':
			if n++; n > limit {
				return n
			}
		}
	}
	return n
}

// Webhook is the mutating admission webhook: it answers
// admission.k8s.io/v1 AdmissionReview requests for Pod CREATE with a
// JSONPatch adding the sidecar (Config.Pod). Every other request is
// allowed unchanged. A pod whose annotations are malformed or whose ports
// clash with the sidecar's is refused with the reason (fail closed: a typo
// must not start a pod unprotected), and so is a pod that asked for the
// sidecar but cannot have it: no port declared, hostNetwork, or a Job's
// pod in legacy mode (cannotInject). Such a pod opts out to run bare.
type Webhook struct {
	Config Config
	// Log, when set, is called once per review with what was done; it is
	// never given the object.
	Log func(Review)
}

// Review is what Webhook.Log is told of one admission review.
type Review struct {
	UID, Namespace, Name string
	Result               Result
	Err                  error
}

// Handler returns the webhook's routes: PathInject, PathNamespace,
// PathGuard, PathNamespaceLabel, PathVerify, PathSecrets and /healthz.
func (wh *Webhook) Handler() http.Handler {
	mux := http.NewServeMux()
	slots := make(chan struct{}, maxReviewsInFlight)
	inject := func(req *admissionRequest) *admissionResponse { return wh.review(req, false) }
	namespace := func(req *admissionRequest) *admissionResponse { return wh.review(req, true) }
	mux.HandleFunc(PathInject, func(w http.ResponseWriter, r *http.Request) { wh.serve(w, r, slots, inject) })
	mux.HandleFunc(PathNamespace, func(w http.ResponseWriter, r *http.Request) { wh.serve(w, r, slots, namespace) })
	mux.HandleFunc(PathGuard, func(w http.ResponseWriter, r *http.Request) { wh.serve(w, r, slots, wh.guard) })
	mux.HandleFunc(PathNamespaceLabel, func(w http.ResponseWriter, r *http.Request) { wh.serve(w, r, slots, mislabelled) })
	mux.HandleFunc(PathVerify, func(w http.ResponseWriter, r *http.Request) { wh.serve(w, r, slots, wh.verify) })
	mux.HandleFunc(PathSecrets, func(w http.ResponseWriter, r *http.Request) { wh.serve(w, r, slots, wh.secrets) })
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux
}

// admissionReview is the part of admission.k8s.io/v1 AdmissionReview the
// webhook reads and writes.
type admissionReview struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Request    *admissionRequest  `json:"request,omitempty"`
	Response   *admissionResponse `json:"response,omitempty"`
}

type admissionRequest struct {
	UID       string           `json:"uid"`
	Kind      groupVersionKind `json:"kind"`
	Namespace string           `json:"namespace"`
	Name      string           `json:"name"`
	Operation string           `json:"operation"`
	Object    json.RawMessage  `json:"object"`
	OldObject json.RawMessage  `json:"oldObject"`
}

type groupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

type admissionResponse struct {
	UID       string   `json:"uid"`
	Allowed   bool     `json:"allowed"`
	Status    *status  `json:"status,omitempty"`
	PatchType string   `json:"patchType,omitempty"`
	Patch     []byte   `json:"patch,omitempty"` // base64 in JSON, as the API wants
	Warnings  []string `json:"warnings,omitempty"`
}

// status is the part of meta/v1 Status a denial carries.
type status struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// serve answers one AdmissionReview, holding one of slots while it reads
// and decides it.
func (wh *Webhook) serve(w http.ResponseWriter, r *http.Request, slots chan struct{}, decide func(*admissionRequest) *admissionResponse) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		http.Error(w, "want Content-Type application/json", http.StatusUnsupportedMediaType)
		return
	}
	// The body is read before a slot is taken: a slot taken first was
	// held by a client that sent its headers and withheld its body, and
	// a dozen of those, sending nothing more, kept the API server's
	// review waiting its turn past its timeout. A body being read holds
	// only about the bytes it has sent (readBody), within its deadline.
	deadline := time.Now().Add(reviewReadTimeout)
	_ = http.NewResponseController(w).SetReadDeadline(deadline)
	body, held, err := readBody(http.MaxBytesReader(w, r.Body, maxReviewBytes), r.ContentLength, deadline)
	defer giveBodyBytes(held)
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		http.Error(w, "cannot decode AdmissionReview: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	if errors.Is(err, errBodiesFull) {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	select {
	case slots <- struct{}{}:
		defer func() { <-slots }()
	case <-r.Context().Done():
		return // the client gave up waiting
	}
	if n := jsonValues(body, maxReviewValues); n > maxReviewValues {
		http.Error(w, fmt.Sprintf("cannot decode AdmissionReview: more than %d JSON values", maxReviewValues), http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionReview
	if err == nil {
		err = json.Unmarshal(body, &review)
		body = nil // the object is a copy (json.RawMessage): the body is garbage now
	}
	if err != nil {
		http.Error(w, "cannot decode AdmissionReview: "+err.Error(), http.StatusBadRequest)
		return
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" || review.Request == nil {
		http.Error(w, "want an admission.k8s.io/v1 AdmissionReview with a request", http.StatusBadRequest)
		return
	}
	resp := decide(review.Request)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(admissionReview{APIVersion: review.APIVersion, Kind: review.Kind, Response: resp})
}

// review decides one request.
func (wh *Webhook) review(req *admissionRequest, namespaceOptIn bool) *admissionResponse {
	resp := &admissionResponse{UID: req.UID, Allowed: true}
	if req.Kind != (groupVersionKind{Version: "v1", Kind: "Pod"}) || req.Operation != "CREATE" {
		return resp
	}
	rv := Review{UID: req.UID, Namespace: req.Namespace}
	defer func() {
		if wh.Log != nil {
			wh.Log(rv)
		}
	}()
	patch, res, err := wh.patch(req.Object, req.Namespace, namespaceOptIn, &rv.Name)
	rv.Result, rv.Err = res, err
	resp.Warnings = res.Warnings
	switch {
	case err != nil:
		resp.Allowed = false
		resp.Status = &status{Code: http.StatusBadRequest, Message: "portcullis injector: " + err.Error()}
	case patch != nil:
		resp.PatchType, resp.Patch = "JSONPatch", patch
	}
	return resp
}

// guard decides a Pod UPDATE at PathGuard: the images and labels of a
// running pod may change, so without it anyone allowed to update pods
// could swap the sidecar's image for one that forwards everything to the
// app, or drop the label LabelSidecar that the namespace's NetworkPolicy
// selects, with no new pod for the injector to see. A pod that has the
// sidecar keeps its image and the label; every other update is allowed.
func (wh *Webhook) guard(req *admissionRequest) *admissionResponse {
	resp := &admissionResponse{UID: req.UID, Allowed: true}
	if req.Kind != (groupVersionKind{Version: "v1", Kind: "Pod"}) || req.Operation != "UPDATE" {
		return resp
	}
	if err := guardUpdate(req.OldObject, req.Object, wh.Config); err != nil {
		resp.Allowed = false
		resp.Status = &status{Code: http.StatusForbidden, Message: "portcullis injector: " + err.Error()}
	}
	return resp
}

// mislabelled refuses a pod created in a namespace whose
// portcullis.dev/inject label is neither "true" nor "false" (the
// ValidatingWebhookConfiguration's selector says which): such a namespace
// met only the opt-in webhook, whose failures are ignored, so a typo
// ("True", "yes") started its pods without the sidecar its operator
// asked for.
func mislabelled(req *admissionRequest) *admissionResponse {
	return &admissionResponse{UID: req.UID, Status: &status{Code: http.StatusForbidden, Message: fmt.Sprintf(
		"portcullis injector: namespace %q has the label %s with a value other than \"true\" or \"false\", so whether its pods get the sidecar is unknown: "+
			"kubectl label namespace %s %s=true --overwrite (or =false)", req.Namespace, AnnotationInject, req.Namespace, AnnotationInject)}}
}

// verify decides a Pod CREATE at PathVerify, after every mutating
// webhook: in a namespace labelled for injection the opt-out annotation
// is the pod author's to write, so without it anyone allowed to create
// pods there could run one without the sidecar. A pod is allowed only
// with the injector's sidecar (hasSidecar), whoever removed it (the
// author's opt-out, another webhook's patch).
func (wh *Webhook) verify(req *admissionRequest) *admissionResponse {
	return wh.requireSidecar(req, func(pod map[string]any) error {
		return fmt.Errorf("namespace %q requires the sidecar and the pod has none (annotated %s: %q, or removed after injection); "+
			"the platform team lets a namespace's pods opt out with kubectl label namespace %s %s=allowed",
			req.Namespace, AnnotationInject, str(object(object(pod, "metadata"), "annotations"), AnnotationInject), req.Namespace, LabelOptOut)
	})
}

// secrets decides a Pod CREATE at PathSecrets, in any namespace: a pod
// that draws on the sidecar's Secrets (Config.drawsOnSecrets) is allowed
// only with the injector's sidecar, held to what verify holds one to.
// The injector refuses the app the Secrets in the pods it injects, but a
// pod it never saw (a namespace not labelled for injection, a pod opted
// out, or one created while the per-pod webhook, failurePolicy Ignore, got
// no answer) mounted them: the sidecars' etcd client certificate and the
// collector's sender token. Other pods are allowed; the manifest's
// matchCondition sends only those drawing on the Secrets, so other pods
// never wait on the injector.
func (wh *Webhook) secrets(req *admissionRequest) *admissionResponse {
	if pod, err := decodeObject(req.Object); err == nil && !wh.Config.drawsOnSecrets(object(pod, "spec")) {
		return &admissionResponse{UID: req.UID, Allowed: true} // not the sidecar's business, whatever else it holds
	}
	return wh.requireSidecar(req, func(map[string]any) error {
		return fmt.Errorf("the pod draws on the Secret %q or %q, which only the injector's sidecar may hold, and has no sidecar of the injector's; remove them (or let the injector add the sidecar)",
			wh.Config.Etcd.ClientSecret, wh.Config.Collector.TokenSecret)
	})
}

// requireSidecar allows a Pod CREATE with the injector's sidecar, held to
// what Config.Pod holds one to (checkPodWide, checkBroughtSidecar); a pod
// without one is refused with none's error, if any.
func (wh *Webhook) requireSidecar(req *admissionRequest, none func(pod map[string]any) error) *admissionResponse {
	resp := &admissionResponse{UID: req.UID, Allowed: true}
	if req.Kind != (groupVersionKind{Version: "v1", Kind: "Pod"}) || req.Operation != "CREATE" {
		return resp
	}
	pod, err := decodeObject(req.Object)
	if err != nil {
		err = fmt.Errorf("cannot decode the pod: %w", err)
	} else if has, herr := hasSidecar(object(pod, "spec"), wh.Config); herr != nil {
		err = herr
	} else if herr := wh.Config.checkPodWide(object(pod, "spec")); has && herr != nil {
		err = herr
	} else if has {
		if err = checkBroughtSidecar(pod); err == nil {
			err = wh.Config.checkBroughtService(req.Namespace, object(pod, "spec"))
		}
		if err == nil {
			err = wh.Config.checkListenPortLabel(pod)
		}
	} else {
		err = none(pod)
	}
	if err != nil {
		resp.Allowed = false
		resp.Status = &status{Code: http.StatusForbidden, Message: "portcullis injector: " + err.Error()}
	}
	return resp
}

// checkBroughtSidecar holds a pod that has the sidecar to what
// Config.Pod holds one to, for the pods Config.Pod does not see that far
// (annotated portcullis.dev/inject: "false", or changed by a later
// webhook): the label LabelSidecar, which the namespace's NetworkPolicy
// selects (without it no policy selects the pod and its every port is
// open); no hostNetwork (the app on the node's addresses, where no
// NetworkPolicy applies); no hostPort on the port the sidecar forwards
// to (checkHostPort); and, for a sidecar that is a regular
// container, no init container with restartPolicy Always started before
// it that could take its port.
func checkBroughtSidecar(pod map[string]any) error {
	spec := object(pod, "spec")
	if spec["hostNetwork"] == true {
		return errors.New("the pod uses the node's network (hostNetwork), where the sidecar guards nothing: remove hostNetwork")
	}
	if sidecarIsRegular(spec) {
		if err := checkStartsAfterInit(spec); err != nil {
			return err
		}
	}
	if err := checkHostPort(spec, broughtUpstream(spec), broughtAdmin(spec)); err != nil {
		return err
	}
	if v := str(object(object(pod, "metadata"), "labels"), LabelSidecar); v != "injected" {
		return fmt.Errorf("the pod has the sidecar but not the label %s: injected, which the namespace's NetworkPolicy selects (without it every port of the pod is open); "+
			"let the injector add it (remove the annotation %s: \"false\")", LabelSidecar, AnnotationInject)
	}
	return nil
}

// guardUpdate refuses an update of an injected pod that changes the
// sidecar's image or removes its label; an undecodable object is refused.
func guardUpdate(rawOld, rawNew json.RawMessage, c Config) error {
	old, err := decodeObject(rawOld)
	if err != nil {
		return fmt.Errorf("cannot decode the old pod: %w", err)
	}
	oldSC := sidecarContainer(object(old, "spec"))
	if oldSC == nil {
		return nil
	}
	pod, err := decodeObject(rawNew)
	if err != nil {
		return fmt.Errorf("cannot decode the pod: %w", err)
	}
	sc := sidecarContainer(object(pod, "spec"))
	if sc == nil || sc["image"] != oldSC["image"] {
		return fmt.Errorf("the image of the running sidecar (container %q) cannot change: roll out a new pod", ContainerName)
	}
	if err := sidecarResized(object(oldSC, "resources"), object(sc, "resources")); err != nil {
		return err
	}
	without := func(ct map[string]any) map[string]any {
		out := make(map[string]any, len(ct))
		for k, v := range ct {
			if k != "resources" {
				out[k] = v
			}
		}
		return out
	}
	if !reflect.DeepEqual(without(oldSC), without(sc)) {
		return fmt.Errorf("the running sidecar (container %q) cannot change but for raising its resources: roll out a new pod", ContainerName)
	}
	if err := checkEphemeral(object(old, "spec"), object(pod, "spec"), c); err != nil {
		return err
	}
	label := func(m map[string]any, key string) string { return str(object(object(m, "metadata"), "labels"), key) }
	if label(old, LabelSidecar) != "" && label(pod, LabelSidecar) != label(old, LabelSidecar) {
		return fmt.Errorf("the label %s of a pod with the sidecar cannot change", LabelSidecar)
	}
	// The namespace's NetworkPolicies select by the port label too: a
	// pod whose sidecar listens on ListenPort, labelled with another
	// port, would meet that port's policy, which admits it to the app.
	if label(old, LabelSidecar) != "" && label(pod, LabelListenPort) != label(old, LabelListenPort) {
		return fmt.Errorf("the label %s of a pod with the sidecar cannot change", LabelListenPort)
	}
	return nil
}

// sidecarResized refuses resources of the running sidecar (pods/resize)
// lower than they were: a starved sidecar restarts, and while it does
// the app could take its port (Config.limitFloor holds the annotations
// to the same at creation). A request or limit may rise, or a limit go.
func sidecarResized(old, new map[string]any) error {
	for _, kind := range []string{"requests", "limits"} {
		for _, name := range []string{"cpu", "memory"} {
			ov, hadOld := object(old, kind)[name]
			nv, hasNew := object(new, kind)[name]
			if !hasNew && (kind == "limits" || !hadOld) {
				continue // no limit is the most of all
			}
			o, _ := ov.(string)
			n, _ := nv.(string)
			if !validQuantity(n) || hadOld && (!validQuantity(o) || quantityValue(n) < quantityValue(o)) || !hadOld && kind == "limits" {
				return fmt.Errorf("the running sidecar's (container %q) %s.%s cannot go from %v to %v: its resources may be raised, not lowered", ContainerName, kind, name, ov, nv)
			}
		}
	}
	return nil
}

// checkEphemeral refuses an ephemeral container (kubectl debug, through
// pods/ephemeralcontainers) added to a pod with the sidecar that targets
// the sidecar, sharing its process namespace (its files through
// /proc/<pid>/root, its process to signal), mounts one of its volumes,
// may rewrite the pod's network (networkControl): its iptables rules
// outlive it, or takes the sidecar's Secrets into its environment
// (envSecrets).
func checkEphemeral(oldSpec, spec map[string]any, c Config) error {
	had := map[string]bool{}
	for _, ct := range objects(oldSpec, "ephemeralContainers") {
		had[str(ct, "name")] = true
	}
	for _, ct := range objects(spec, "ephemeralContainers") {
		if had[str(ct, "name")] {
			continue
		}
		if str(ct, "targetContainerName") == ContainerName {
			return fmt.Errorf("ephemeral container %q targets the sidecar (container %q): it would share its processes and files; target the app", str(ct, "name"), ContainerName)
		}
		for _, m := range objects(ct, "volumeMounts") {
			if n := str(m, "name"); n == volState || n == volTLS || n == volToken {
				return fmt.Errorf("ephemeral container %q mounts the volume %q, which is the sidecar's own; remove the mount", str(ct, "name"), n)
			}
		}
		if err := networkControl(ct); err != nil { // kubectl debug --profile=netadmin
			return fmt.Errorf("ephemeral %w", err)
		}
		if err := c.envSecrets(ct); err != nil {
			return fmt.Errorf("ephemeral %w", err)
		}
	}
	return nil
}

// sidecarContainer returns the pod's container named ContainerName, or nil.
func sidecarContainer(spec map[string]any) map[string]any {
	for _, key := range []string{"initContainers", "containers"} {
		for _, ct := range objects(spec, key) {
			if str(ct, "name") == ContainerName {
				return ct
			}
		}
	}
	return nil
}

// patch injects the pod in raw and returns the RFC 6902 patch from raw to
// the result, or nil when nothing changes.
func (wh *Webhook) patch(raw json.RawMessage, ns string, namespaceOptIn bool, name *string) ([]byte, Result, error) {
	pod, err := decodeObject(raw)
	if err != nil {
		return nil, Result{}, fmt.Errorf("cannot decode the pod: %w", err)
	}
	meta := child(pod, "metadata")
	*name = str(meta, "name")
	if *name == "" {
		*name = str(meta, "generateName")
	}
	if err := checkInject(meta); err != nil {
		return nil, Result{}, err
	}
	if !namespaceOptIn && !podOptIn(meta) {
		return nil, Result{Skipped: "not opted in"}, nil
	}
	orig, _ := decodeObject(raw)
	spec := object(pod, "spec")
	if spec == nil {
		return nil, Result{}, errors.New("the pod has no spec")
	}
	res, err := wh.Config.Pod(ns, meta, spec, ownedByJob(meta))
	if err == nil {
		if err = cannotInject(res, wh.Config.PortName); err != nil {
			res = Result{Skipped: res.Skipped}
		}
	}
	if err != nil || !res.Injected && res.Skipped != SkipInjected {
		return nil, res, err
	}
	var ops []patchOp
	if object(orig, "metadata") == nil {
		ops = append(ops, patchOp{Op: "add", Path: "/metadata", Value: meta})
	} else {
		ops = diff("/metadata", object(orig, "metadata"), meta)
	}
	ops = append(ops, diff("/spec", object(orig, "spec"), spec)...)
	if len(ops) == 0 {
		return nil, res, nil // already injected, as the injector writes it
	}
	p, err := json.Marshal(ops)
	return p, res, err
}

// cannotInject refuses a pod that asked for the sidecar (its namespace's
// label, or its own annotation or label) but was left without it for want
// of a port, for hostNetwork, or as a Job's pod in legacy mode. Declaring a port is optional in Kubernetes
// (an undeclared one is reachable all the same), so admitting such a pod
// bare would let it leave the sidecar out without opting out.
func cannotInject(res Result, portName string) error {
	optOut := fmt.Sprintf("or opt out with %s: \"false\"", AnnotationInject)
	switch res.Skipped {
	case SkipNoPort:
		return fmt.Errorf("the pod declares no port for the sidecar to protect (an undeclared port is reachable all the same): declare the app's port (named %q), set %s, %s", portName, AnnotationUpstreamPort, optOut)
	case SkipHostNetwork:
		return fmt.Errorf("the pod uses the node's network (hostNetwork), where the sidecar cannot guard it: %s", strings.TrimPrefix(optOut, "or "))
	case SkipLegacyJob:
		// What makes a pod a Job's (its label, an ownerReference of a pod
		// created directly) is the author's to write: admitting it bare
		// let any pod leave the sidecar out without opting out.
		return fmt.Errorf("the pod belongs to a Job, which legacy mode cannot give the sidecar (a regular sidecar container would keep it from completing): %s", strings.TrimPrefix(optOut, "or "))
	}
	return nil
}

func decodeObject(raw json.RawMessage) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // integers stay exact
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("the object is null")
	}
	return m, nil
}

// podOptIn reports whether the pod asks for the sidecar itself, by
// annotation or label.
func podOptIn(meta map[string]any) bool {
	return str(object(meta, "annotations"), AnnotationInject) == "true" || str(object(meta, "labels"), AnnotationInject) == "true"
}

// ownedByJob reports whether a pod belongs to a Job.
func ownedByJob(meta map[string]any) bool {
	for _, o := range objects(meta, "ownerReferences") {
		if str(o, "kind") == "Job" {
			return true
		}
	}
	return str(object(meta, "labels"), "batch.kubernetes.io/job-name") != ""
}

// patchOp is one RFC 6902 operation.
type patchOp struct {
	Op    string
	Path  string
	Value any // for "add" (written even when it is false, 0 or null)
}

// MarshalJSON writes the operation with "value" for "add" only.
func (o patchOp) MarshalJSON() ([]byte, error) {
	if o.Op != "add" {
		return json.Marshal(map[string]any{"op": o.Op, "path": o.Path})
	}
	return json.Marshal(map[string]any{"op": o.Op, "path": o.Path, "value": o.Value})
}

// diff returns the operations turning the object at path from old into
// new, member by member: "add" sets a member whether or not it exists
// (RFC 6902, 4.1), "remove" drops one. Members are visited in order, so
// the patch is the same for the same input.
func diff(path string, old, new map[string]any) []patchOp {
	var ops []patchOp
	for _, k := range sortedKeys(new) {
		if ov, ok := old[k]; !ok || !reflect.DeepEqual(ov, new[k]) {
			ops = append(ops, patchOp{Op: "add", Path: path + "/" + escapePointer(k), Value: new[k]})
		}
	}
	for _, k := range sortedKeys(old) {
		if _, ok := new[k]; !ok {
			ops = append(ops, patchOp{Op: "remove", Path: path + "/" + escapePointer(k)})
		}
	}
	return ops
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// escapePointer escapes a JSON Pointer reference token (RFC 6901, 3).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
