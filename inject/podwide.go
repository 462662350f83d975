package inject

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// checkPodWide refuses what in a pod's spec reaches into the sidecar
// whatever its own container says: the app mounting its volumes or
// taking its Secrets, sharing
// its process namespace, or choosing how it resolves etcd and the
// collector.
func (c Config) checkPodWide(spec map[string]any) error {
	if err := checkSidecarMounts(spec); err != nil {
		return err
	}
	if err := c.checkSidecarSecrets(spec); err != nil {
		return err
	}
	if spec["shareProcessNamespace"] == true {
		return errSharedPIDs
	}
	if spec["hostPID"] == true {
		return errHostPIDs
	}
	if err := checkNetworkControl(spec); err != nil {
		return err
	}
	return c.checkResolution(spec)
}

// checkNetworkControl refuses a pod whose containers, other than the
// sidecar, may rewrite the pod's network: every container shares the
// pod's network namespace, so one holding CAP_NET_ADMIN (added, within
// ALL, or privileged) can add an iptables rule redirecting the sidecar's
// port to the app's, and the Service's traffic, which the NetworkPolicy
// admits on the sidecar's port, reaches the app past the sidecar; an
// init container's rule outlives it. SYS_ADMIN and BPF are refused too
// (deny on doubt: BPF programs steer packets and sockets), and so is
// SYS_MODULE: a kernel module the container loads runs as the kernel,
// which writes any namespace's netfilter rules (the runtime's default
// seccomp profile allows init_module to a holder of the capability, and
// a pod is unconfined unless it asks). DAC_READ_SEARCH is refused
// too: open_by_handle_at, which the runtime's default seccomp profile
// allows a holder of it, opens a file by its handle on any filesystem the
// container has a mount of, and the pod's /etc/hosts is a bind mount from
// the node's kubelet directory, where the sidecar's state volume (an
// emptyDir) lies: the app could plant the last-known-good policy the
// sidecar serves while etcd is away, as a mount of it could
// (checkSidecarMounts). The
// restricted Pod Security Standard refuses all of these, but the
// injector must not rely on a namespace being held to it.
func checkNetworkControl(spec map[string]any) error {
	for _, key := range []string{"initContainers", "containers"} {
		for _, ct := range objects(spec, key) {
			if str(ct, "name") == ContainerName {
				continue // the sidecar (hasSidecar vouched for it)
			}
			if err := networkControl(ct); err != nil {
				return err
			}
		}
	}
	return nil
}

// networkControl names what in a container's securityContext could
// rewrite the pod's network, or open the sidecar's files on the node
// (DAC_READ_SEARCH), or returns nil.
func networkControl(ct map[string]any) error {
	sc := object(ct, "securityContext")
	if sc["privileged"] == true {
		return fmt.Errorf("container %q is privileged: it could rewrite the pod's network (an iptables rule sending the sidecar's port to the app) and reach the app past the sidecar; remove privileged", str(ct, "name"))
	}
	adds, _ := object(sc, "capabilities")["add"].([]any)
	for _, a := range adds {
		name, _ := a.(string)
		switch strings.TrimPrefix(strings.ToUpper(name), "CAP_") {
		case "NET_ADMIN", "SYS_ADMIN", "SYS_MODULE", "BPF", "ALL":
			return fmt.Errorf("container %q adds the capability %s: it could rewrite the pod's network (an iptables rule sending the sidecar's port to the app) and reach the app past the sidecar; remove it", str(ct, "name"), name)
		case "DAC_READ_SEARCH":
			return fmt.Errorf("container %q adds the capability %s: with it open_by_handle_at opens any file of the node's filesystem that holds the pod's /etc/hosts, the sidecar's state volume among them (its last-known-good policy, its audit spool); remove it", str(ct, "name"), name)
		}
	}
	return nil
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

// errHostPIDs refuses a pod in the node's process namespace: the
// sidecar is there too, so the app sees its process as with
// shareProcessNamespace (errSharedPIDs).
var errHostPIDs = errors.New("the pod sets hostPID: its containers, the sidecar included, share the node's processes, so the app could signal the sidecar's process, take its port while it restarts, and read its files through /proc; remove hostPID")

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

// checkSidecarSecrets refuses a pod that gives its containers, other than
// the sidecar, the Secrets the sidecar's volumes come from: in a volume
// of the app's own (a secret or projected one; checkSidecarMounts holds
// the sidecar's volumes to the sidecar) or in their environment. The
// app would hold the sidecars' etcd client certificate (writing
// members/, demand/ and approval-uses/ of the prefix, shared with the
// other namespaces' sidecars on it: their global limits) and the
// collector's sender token (audit batches as any sidecar), both reached
// through the NetworkPolicy that admits injected pods.
func (c Config) checkSidecarSecrets(spec map[string]any) error {
	isSidecars := func(name string) bool { return name == c.Etcd.ClientSecret || name == c.Collector.TokenSecret }
	for _, v := range objects(spec, "volumes") {
		if n := str(v, "name"); n == volTLS || n == volToken {
			continue // the sidecar's own (sidecarVolumesOK, checkSidecarMounts)
		}
		names := []string{str(object(v, "secret"), "secretName")}
		for _, src := range objects(object(v, "projected"), "sources") {
			names = append(names, str(object(src, "secret"), "name"))
		}
		for _, n := range names {
			if isSidecars(n) {
				return fmt.Errorf("volume %q draws on the Secret %q, which is the sidecar's: only the sidecar may hold its etcd certificate and collector token; remove the volume", str(v, "name"), n)
			}
		}
	}
	for _, key := range []string{"initContainers", "containers"} {
		for _, ct := range objects(spec, key) {
			if str(ct, "name") == ContainerName {
				continue // the sidecar (sidecarEnvOK)
			}
			if err := c.envSecrets(ct); err != nil {
				return err
			}
		}
	}
	return nil
}

// envSecrets refuses a container (an ephemeral one too, at PathGuard)
// taking the sidecar's Secrets into its environment (checkSidecarSecrets).
func (c Config) envSecrets(ct map[string]any) error {
	var names []string
	for _, e := range objects(ct, "env") {
		names = append(names, str(object(object(e, "valueFrom"), "secretKeyRef"), "name"))
	}
	for _, e := range objects(ct, "envFrom") {
		names = append(names, str(object(e, "secretRef"), "name"))
	}
	for _, n := range names {
		if n != "" && (n == c.Etcd.ClientSecret || n == c.Collector.TokenSecret) {
			return fmt.Errorf("container %q takes the Secret %q, which is the sidecar's, into its environment: only the sidecar may hold its etcd certificate and collector token; remove it", str(ct, "name"), n)
		}
	}
	return nil
}

// drawsOnSecrets reports whether the pod's spec names the sidecar's
// Secrets anywhere: a volume (secret or projected) or a container's
// environment (ephemeral containers too).
func (c Config) drawsOnSecrets(spec map[string]any) bool {
	isSidecars := func(name string) bool { return name == c.Etcd.ClientSecret || name == c.Collector.TokenSecret }
	for _, v := range objects(spec, "volumes") {
		if isSidecars(str(object(v, "secret"), "secretName")) {
			return true
		}
		for _, src := range objects(object(v, "projected"), "sources") {
			if isSidecars(str(object(src, "secret"), "name")) {
				return true
			}
		}
	}
	for _, key := range []string{"initContainers", "containers", "ephemeralContainers"} {
		for _, ct := range objects(spec, key) {
			if c.envSecrets(ct) != nil {
				return true
			}
		}
	}
	return false
}
