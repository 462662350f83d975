package inject

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/durable"
	"go.yaml.in/yaml/v3"
)

// Config is what the injector adds to a pod. The zero value is not
// usable; start from Defaults (LoadConfig does), whose values match
// deploy/kubernetes/injector-config.yaml.
type Config struct {
	// Image is the sidecar's image (the kustomize base's portcullis:dev).
	Image string `yaml:"image"`
	// AcceptedImages are the other images a sidecar a pod brings may run,
	// each exactly as written (a tag or a digest): a workload injected
	// offline before an upgrade, while it rolls out. Only these: any tag of
	// Image's repository was taken, and an older release, without the
	// fixes since, is one a pod's author could choose.
	AcceptedImages []string `yaml:"acceptedImages"`
	// ImagePullPolicy is the container's imagePullPolicy ("" leaves it to
	// Kubernetes).
	ImagePullPolicy string `yaml:"imagePullPolicy"`
	// Legacy adds the sidecar as the first regular container, for clusters
	// older than 1.29 (no native sidecars).
	Legacy bool `yaml:"legacy"`
	// Binary is the path of portcullis in the image: the legacy sidecar's
	// preStop hook runs `<Binary> wait <drainDelay>`.
	Binary string `yaml:"binary"`
	// PortName is the name of the app's container port that Services
	// target; the sidecar takes it over (the app's port becomes
	// PortName+"-app").
	PortName string `yaml:"portName"`
	// ListenPort is the sidecar's port, the one the namespace's
	// NetworkPolicy admits.
	ListenPort int `yaml:"listenPort"`
	// ListenPorts are the other ports a pod may move its sidecar to by
	// annotation portcullis.dev/listen-port (or in a sidecar it brings).
	// Only these: on a pod whose sidecar listens elsewhere, the port the
	// NetworkPolicy admits is free for the app, reached there past the
	// sidecar; a pod using one of these is labelled LabelListenPort, which
	// the base's policies select, and needs a policy admitting its port.
	ListenPorts []int `yaml:"listenPorts"`
	// AdminPort serves /healthz, /readyz and /metrics.
	AdminPort int `yaml:"adminPort"`
	// Prefix is the etcd prefix of the deployment.
	Prefix string `yaml:"prefix"`
	// Prefixes are the other etcd prefixes a pod may choose by annotation
	// portcullis.dev/prefix (or in a sidecar it brings). Only these: a
	// pod's author is not trusted with its policy, and the sidecars' etcd
	// role may write under a prefix's members/ and demand/, so a prefix
	// of the author's choosing could hold the author's policy. None may
	// lie under another, nor under Prefix.
	Prefixes []string `yaml:"prefixes"`
	// LogLevel is the sidecar's --log-level (annotation portcullis.dev/log-level).
	LogLevel string `yaml:"logLevel"`
	// DrainDelay and Drain are the sidecar's --drain-delay and --drain.
	DrainDelay Duration `yaml:"drainDelay"`
	Drain      Duration `yaml:"drain"`
	// Etcd says where the policy lives and which Secret (in the pod's
	// namespace) holds the client certificate (tls.crt, tls.key, ca.crt).
	Etcd EtcdConfig `yaml:"etcd"`
	// Collector says where audit batches go.
	Collector CollectorConfig `yaml:"collector"`
	// SpoolMax is the sidecar's --spool-max; the state volume's sizeLimit
	// is twice it.
	SpoolMax string `yaml:"spoolMax"`
	// Resources are the sidecar's requests and limits (annotations
	// portcullis.dev/cpu-request, memory-request, cpu-limit, memory-limit).
	Resources Resources `yaml:"resources"`
	// RunAsUser is the sidecar's non-root user id.
	RunAsUser int `yaml:"runAsUser"`
	// Services lists, by namespace, the service names its pods may give
	// their sidecar (--service: service.name of its audit records), by
	// annotation portcullis.dev/service or the app.kubernetes.io/name or
	// app label. A namespace not listed names its pods' service after
	// itself. The namespace binds the name, not the pod: its author
	// writes the annotation and the labels, and could otherwise have its
	// records attributed to another team's service.
	Services map[string][]string `yaml:"services"`
}

// EtcdConfig is the etcd connection of the sidecar.
type EtcdConfig struct {
	Endpoints string `yaml:"endpoints"`
	// ClientSecret is the kubernetes.io/tls Secret with the client
	// certificate, its key and ca.crt, mounted at /etc/portcullis/tls.
	ClientSecret string `yaml:"clientSecret"`
}

// CollectorConfig is the audit collector of the sidecar.
type CollectorConfig struct {
	URL string `yaml:"url"`
	// TokenSecret is the Secret whose key "token" is the sender token.
	TokenSecret string `yaml:"tokenSecret"`
}

// Resources are requests and limits as Kubernetes quantities.
type Resources struct {
	CPURequest    string `yaml:"cpuRequest"`
	MemoryRequest string `yaml:"memoryRequest"`
	CPULimit      string `yaml:"cpuLimit"`
	MemoryLimit   string `yaml:"memoryLimit"`
}

// Duration is a time.Duration written as "5s" in the config.
type Duration time.Duration

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: cannot parse duration %q (want e.g. 5s)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as "5s".
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Defaults returns the built-in configuration: the values of the shipped
// deploy/kubernetes/injector-config.yaml.
func Defaults() Config {
	return Config{
		Image:          "portcullis:dev",
		Binary:         "/portcullis",
		PortName:       "http",
		ListenPort:     8080,
		AdminPort:      9901,
		Prefix:         "/portcullis/default",
		Prefixes:       []string{},
		AcceptedImages: []string{},
		ListenPorts:    []int{},
		LogLevel:       "info",
		DrainDelay:     Duration(5 * time.Second),
		Drain:          Duration(20 * time.Second),
		Etcd: EtcdConfig{
			Endpoints:    "https://etcd-0.etcd.portcullis.svc:2379,https://etcd-1.etcd.portcullis.svc:2379,https://etcd-2.etcd.portcullis.svc:2379",
			ClientSecret: "portcullis-sidecar-tls",
		},
		Collector: CollectorConfig{URL: "https://collector.portcullis.svc:4318", TokenSecret: "portcullis-collector-token"},
		SpoolMax:  "256Mi",
		Resources: Resources{CPURequest: "100m", MemoryRequest: "32Mi", MemoryLimit: "128Mi"},
		RunAsUser: 65532,
		Services:  map[string][]string{},
	}
}

// LoadConfig reads a config file over Defaults: strict (an unknown field
// is an error), and checked with Validate. path "" is Defaults.
func LoadConfig(path string) (Config, error) {
	c := Defaults()
	if path == "" {
		return c, nil
	}
	b, err := durable.ReadRegularMax(path, maxConfigBytes)
	if err != nil {
		return c, fmt.Errorf("cannot read injector config %q: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		if te, ok := errors.AsType[*yaml.TypeError](err); ok {
			// Its text is "yaml: unmarshal errors:" and a line each;
			// an error is one line (portcullis inject prints it as is).
			return c, fmt.Errorf("cannot parse injector config %q: %s", path, strings.Join(te.Errors, "; "))
		}
		return c, fmt.Errorf("cannot parse injector config %q: %w", path, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("injector config %q: the config is one YAML document; a second one follows (line %d)", path, next.Line)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("injector config %q: %w", path, err)
	}
	return c, nil
}

// Validate checks the values a pod would inherit.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.Image != "", "image is empty")
	for i, im := range c.AcceptedImages {
		check(im != "" && !strings.ContainsAny(im, " \t\n"), "acceptedImages[%d] %q is not an image reference", i, im)
	}
	check(strings.HasPrefix(c.Binary, "/"), "binary %q is not an absolute path", c.Binary)
	check(validPortName(c.PortName), "portName %q is not a valid port name (at most 11 lowercase letters, digits and -, room for the -app suffix)", c.PortName)
	check(validPort(c.ListenPort), "listenPort %d is not a port", c.ListenPort)
	check(validPort(c.AdminPort) && c.AdminPort != c.ListenPort, "adminPort %d is not a port distinct from listenPort", c.AdminPort)
	for i, p := range c.ListenPorts {
		check(validPort(p) && p != c.AdminPort, "listenPorts[%d] %d is not a port distinct from adminPort", i, p)
	}
	check(validPrefix(c.Prefix), "prefix %q must start with / and hold no spaces", c.Prefix)
	errs = append(errs, c.checkPrefixes()...)
	check(validLogLevel(c.LogLevel), "logLevel %q is not one of debug, info, warn, error", c.LogLevel)
	check(c.Etcd.Endpoints != "" && c.Etcd.ClientSecret != "", "etcd.endpoints and etcd.clientSecret are required")
	check(c.Collector.URL != "" && c.Collector.TokenSecret != "", "collector.url and collector.tokenSecret are required")
	check(spoolQuantity.MatchString(c.SpoolMax), "spoolMax %q is not a whole number of Ki, Mi or Gi (e.g. 256Mi)", c.SpoolMax)
	check(c.RunAsUser > 0, "runAsUser %d must be a non-root user id", c.RunAsUser)
	for ns, names := range c.Services {
		check(namespaceName.MatchString(ns), "services: %q is not a namespace name", ns)
		check(len(names) > 0, "services.%s lists no service", ns)
		for i, n := range names {
			check(serviceName.MatchString(n), "services.%s[%d] %q is not a service name (letters, digits, . _ -)", ns, i, n)
			other := c.listedBy(n)
			check(other == ns, "services.%s[%d] %q is listed by services.%s too: a name belongs to one namespace, or its records could be either's", ns, i, n, other)
		}
	}
	for name, q := range c.Resources.byName() {
		check(q == "" || validQuantity(q), "resources.%s %q is not a quantity (e.g. 100m, 64Mi)", name, q)
	}
	return errors.Join(errs...)
}

// checkPrefixes refuses a listed prefix that is malformed or lies under
// another prefix (or Prefix): the sidecars of the outer one may write
// its policy there.
func (c Config) checkPrefixes() []error {
	var errs []error
	all := append([]string{c.Prefix}, c.Prefixes...)
	for i, p := range c.Prefixes {
		if !validPrefix(p) {
			errs = append(errs, fmt.Errorf("prefixes[%d] %q must start with / and hold no spaces", i, p))
		}
	}
	for _, p := range all {
		for _, q := range all {
			if strings.HasPrefix(q, strings.TrimSuffix(p, "/")+"/") {
				errs = append(errs, fmt.Errorf("prefix %q lies under prefix %q, whose sidecars may write under it", q, p))
			}
		}
	}
	return errs
}

// prefixAllowed reports whether a pod may name etcd prefix p: Prefix or
// one of Prefixes, exactly.
func (c Config) prefixAllowed(p string) bool {
	return p == c.Prefix || slices.Contains(c.Prefixes, p)
}

// servicesOf returns the service names a pod of namespace ns may give
// its sidecar: those Services lists for it, else the namespace's own
// name, unless another namespace lists that name: then none. A namespace
// named after another team's listed service (billing beside services:
// {shop: [billing]}) had its records attributed to that service.
func (c Config) servicesOf(ns string) []string {
	if names, ok := c.Services[ns]; ok {
		return names
	}
	if c.listedBy(ns) != "" {
		return nil
	}
	return []string{ns}
}

// listedBy returns a namespace whose Services list name, the smallest
// such, or "".
func (c Config) listedBy(name string) string {
	by := ""
	for ns, names := range c.Services {
		if slices.Contains(names, name) && (by == "" || ns < by) {
			by = ns
		}
	}
	return by
}

// errService refuses service name (what names where it came from) for
// a pod of namespace ns, saying which names the namespace has.
func (c Config) errService(ns, name, what string) error {
	why := fmt.Sprintf("the injector's configuration lists no services for it, so its pods' service is %q", ns)
	if other := c.listedBy(ns); other != "" {
		why = fmt.Sprintf("the injector's configuration lists no services for it, and its own name is a service of namespace %q (services.%s), so its pods have none", other, other)
	}
	if names, listed := c.Services[ns]; listed {
		why = fmt.Sprintf("services.%s in the injector's configuration allows %s", ns, strings.Join(names, ", "))
	}
	return fmt.Errorf("%s %q is not a service of namespace %q (%s): the audit records' service.name is bound to the namespace, "+
		"so that a pod cannot have its records attributed to another team's service; the platform team lists a namespace's services under services.%s",
		what, name, ns, why, ns)
}

// listenPortAllowed reports whether the sidecar may listen on port p:
// ListenPort or one of ListenPorts.
func (c Config) listenPortAllowed(p int) bool {
	return p == c.ListenPort || slices.Contains(c.ListenPorts, p)
}

// errListenPort refuses a listen port the configuration does not allow.
func (c Config) errListenPort(p int) error {
	return fmt.Errorf("the sidecar's port %d is not one the injector's configuration allows (listenPort %d, listenPorts %v): "+
		"the namespace's NetworkPolicy admits the sidecar's port, and on a pod whose sidecar listens elsewhere the app could take that port and be reached past the sidecar",
		p, c.ListenPort, c.ListenPorts)
}

// allowedPrefixes names the prefixes a pod may choose, for an error.
func (c Config) allowedPrefixes() string {
	return "allowed are " + strings.Join(append([]string{c.Prefix}, c.Prefixes...), ", ")
}

func (r Resources) byName() map[string]string {
	return map[string]string{"cpuRequest": r.CPURequest, "memoryRequest": r.MemoryRequest, "cpuLimit": r.CPULimit, "memoryLimit": r.MemoryLimit}
}

// maxConfigBytes caps the injector's config file: a few KiB in use; a
// larger file (a wrong path naming a log) was read whole.
const maxConfigBytes = 1 << 20
