package inject

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The annotations (and the label) the injector reads and writes. A pod
// opts in with AnnotationInject "true" (or its namespace's label of the
// same name, see Webhook) and out with "false".
const (
	AnnotationInject        = "portcullis.dev/inject"
	AnnotationStatus        = "portcullis.dev/status" // "injected", written by the injector
	AnnotationUpstreamPort  = "portcullis.dev/upstream-port"
	AnnotationListenPort    = "portcullis.dev/listen-port"
	AnnotationPrefix        = "portcullis.dev/prefix"
	AnnotationLogLevel      = "portcullis.dev/log-level"
	AnnotationService       = "portcullis.dev/service"
	AnnotationCPURequest    = "portcullis.dev/cpu-request"
	AnnotationMemoryRequest = "portcullis.dev/memory-request"
	AnnotationCPULimit      = "portcullis.dev/cpu-limit"
	AnnotationMemoryLimit   = "portcullis.dev/memory-limit"
	// LabelSidecar marks injected pods: the NetworkPolicies of the
	// kustomize base let only pods with it reach etcd and the collector.
	LabelSidecar = "portcullis.dev/sidecar"
	// LabelListenPort is the sidecar's port on a pod whose sidecar does
	// not listen on Config.ListenPort, and absent on every other: the
	// base's portcullis-sidecar policy admits ListenPort only to pods
	// without it (NetworkPolicies add up: one admitting ListenPort to
	// every injected pod left it open for the app of a pod whose sidecar
	// listens elsewhere). The injector writes it; the pod's author cannot.
	LabelListenPort = "portcullis.dev/listen-port"
	// ContainerName is the name of the injected container.
	ContainerName = "portcullis"
)

// checkInject refuses a portcullis.dev/inject annotation or label that
// is not the string "true" or "false": a typo ("True", "yes") must not
// leave a pod its author meant to protect without the sidecar, nor inject
// one meant to opt out.
func checkInject(meta map[string]any) error {
	for _, field := range []string{"annotations", "labels"} {
		v, ok := object(meta, field)[AnnotationInject]
		if s, _ := v.(string); ok && s != "true" && s != "false" {
			return fmt.Errorf("%s %s: %#v is neither \"true\" nor \"false\"", strings.TrimSuffix(field, "s"), AnnotationInject, v)
		}
	}
	return nil
}

// settings are the Config with one pod's annotations applied.
type settings struct {
	Config
	upstreamPort int // 0: found from the app's ports
	service      string
}

// podSettings applies the annotations to c, refusing a value that is not
// well formed (a typo must not silently inject the defaults).
func podSettings(c Config, annotations map[string]any) (settings, error) {
	s := settings{Config: c}
	str := func(key string) (string, bool) {
		v, ok := annotations[key].(string)
		return v, ok
	}
	var err error
	for _, p := range []struct {
		key string
		dst *int
	}{{AnnotationUpstreamPort, &s.upstreamPort}, {AnnotationListenPort, &s.ListenPort}} {
		if v, ok := str(p.key); ok {
			if *p.dst, err = strconv.Atoi(v); err != nil || !validPort(*p.dst) {
				return s, fmt.Errorf("annotation %s: %q is not a port (1-65535)", p.key, v)
			}
		}
	}
	if v, ok := str(AnnotationPrefix); ok {
		if !c.prefixAllowed(v) {
			return s, fmt.Errorf("annotation %s: %q is not an etcd prefix the injector's configuration allows (prefix, prefixes): %s", AnnotationPrefix, v, c.allowedPrefixes())
		}
		s.Prefix = v
	}
	if v, ok := str(AnnotationLogLevel); ok {
		if !validLogLevel(v) {
			return s, fmt.Errorf("annotation %s: %q is not one of debug, info, warn, error", AnnotationLogLevel, v)
		}
		s.LogLevel = v
	}
	if v, ok := str(AnnotationService); ok {
		if !serviceName.MatchString(v) {
			return s, fmt.Errorf("annotation %s: %q is not a service name (letters, digits, . _ -)", AnnotationService, v)
		}
		s.service = v
	}
	if err := s.applyResources(annotations); err != nil {
		return s, err
	}
	if !c.listenPortAllowed(s.ListenPort) {
		return s, fmt.Errorf("annotation %s: %w", AnnotationListenPort, c.errListenPort(s.ListenPort))
	}
	if s.ListenPort == s.AdminPort || s.ListenPort == s.upstreamPort {
		return s, fmt.Errorf("annotation %s: port %d is already the admin or upstream port", AnnotationListenPort, s.ListenPort)
	}
	return s, nil
}

// applyResources applies the resource annotations (limitFloor bounds
// the limits).
func (s *settings) applyResources(annotations map[string]any) error {
	for _, r := range []struct {
		key string
		dst *string
	}{{AnnotationCPURequest, &s.Resources.CPURequest}, {AnnotationMemoryRequest, &s.Resources.MemoryRequest},
		{AnnotationCPULimit, &s.Resources.CPULimit}, {AnnotationMemoryLimit, &s.Resources.MemoryLimit}} {
		v, ok := annotations[r.key].(string)
		if !ok {
			continue
		}
		if !validQuantity(v) {
			return fmt.Errorf("annotation %s: %q is not a quantity (e.g. 100m, 64Mi)", r.key, v)
		}
		if floor, name := s.Config.limitFloor(r.key); floor != "" && quantityValue(v) < quantityValue(floor) {
			return fmt.Errorf("annotation %s: %q is below the configured %s %s: a limit may be raised, not lowered (a starved sidecar restarts, and while it does the app could take its port)", r.key, v, name, floor)
		}
		*r.dst = v
	}
	return nil
}

// limitFloor returns the least value a pod may annotate for the limit
// key, and the setting it comes from: the configured limit, else the
// configured request ("" for a request). A sidecar starved of memory is
// OOM-killed, one starved of CPU fails its liveness probe, and while it
// restarts its port is free: an app binding it then answers the Service
// itself.
func (c Config) limitFloor(key string) (floor, setting string) {
	switch key {
	case AnnotationCPULimit:
		if c.Resources.CPULimit != "" {
			return c.Resources.CPULimit, "resources.cpuLimit"
		}
		return c.Resources.CPURequest, "resources.cpuRequest"
	case AnnotationMemoryLimit:
		if c.Resources.MemoryLimit != "" {
			return c.Resources.MemoryLimit, "resources.memoryLimit"
		}
		return c.Resources.MemoryRequest, "resources.memoryRequest"
	}
	return "", ""
}

// quantityValue is the value of a quantity validQuantity accepts, in
// base units (cores, bytes).
func quantityValue(q string) float64 {
	i := strings.IndexFunc(q, func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
	num, suffix := q, ""
	if i >= 0 {
		num, suffix = q[:i], q[i:]
	}
	f, _ := strconv.ParseFloat(num, 64)
	scale := map[string]float64{"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
		"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}
	return f * scale[suffix]
}

var (
	spoolQuantity = regexp.MustCompile(`^[1-9][0-9]*(Ki|Mi|Gi)$`)
	quantity      = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$`)
	portName      = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	serviceName   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	namespaceName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
)

func validQuantity(q string) bool { return quantity.MatchString(q) }
func validPort(p int) bool        { return p > 0 && p < 65536 }

// validPortName allows for the "-app" suffix within the 15 characters of
// an IANA_SVC_NAME.
func validPortName(n string) bool {
	return len(n) <= 11 && portName.MatchString(n) && strings.ContainsAny(n, "abcdefghijklmnopqrstuvwxyz")
}

func validPrefix(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.ContainsAny(p, " \t\r\n\"'")
}

func validLogLevel(l string) bool {
	switch l {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}
