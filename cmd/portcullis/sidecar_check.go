package main

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/portcullis/portcullis/dataplane"
)

// The checks of portcullis sidecar's flags that depend on each other.

// isHostPort reports whether s is host:port as the data plane dials it:
// a host, and a port number of 1-65535. fasthttp's dialer takes no
// service name ("localhost:http"), an empty host resolves to nothing, and
// port 0 or 99999 reaches nothing: each was taken, and the sidecar started
// and answered every admitted request 502.
func isHostPort(s string) bool {
	host, _, _ := net.SplitHostPort(s)
	return host != "" && checkHostPort(s) == nil
}

// reachesOwnListener reports whether a dial of upstream (host:port) ends
// at addr, a listener of the sidecar: the same port, and the same host,
// or a local one (loopback, localhost, 0.0.0.0) where addr listens on it
// or on every address ("", "::", "0.0.0.0"). The upstream is dialled
// over IPv4 (fasthttp.Dial), so localhost is 127.0.0.1 on both sides.
func reachesOwnListener(upstream, addr string) bool {
	uh, up, err := net.SplitHostPort(upstream)
	if err != nil {
		return false
	}
	lh, lp, err := net.SplitHostPort(addr)
	if err != nil || up != lp {
		return false
	}
	if strings.EqualFold(uh, lh) {
		return true
	}
	ip := func(h string) net.IP {
		if strings.EqualFold(h, "localhost") {
			return net.IPv4(127, 0, 0, 1)
		}
		return net.ParseIP(h)
	}
	uip, lip := ip(uh), ip(lh)
	switch {
	case uip == nil:
		return false // a name: not resolved here
	case lip != nil && uip.Equal(lip):
		return true
	case !uip.IsLoopback() && !uip.IsUnspecified():
		return false
	case lh == "" || (lip != nil && lip.IsUnspecified()):
		return true // the listener takes every address
	}
	// 0.0.0.0 dials this host, reaching a listener on 127.0.0.1.
	return uip.IsUnspecified() && lip != nil && lip.IsLoopback()
}

// checkSidecarFlags checks the flags of portcullis sidecar that depend on
// each other.
func checkSidecarFlags(f sidecarFlags) error {
	switch {
	case f.upstream == "":
		return errors.New("--upstream is required; give the service's host:port")
	case !isHostPort(f.upstream):
		// It was found only once the policy was loaded: exit 1 and a JSON
		// log line, "dataplane: upstream ... must be host:port".
		return fmt.Errorf("--upstream %s: want the service's host:port, e.g. 127.0.0.1:3000", f.upstream)
	case reachesOwnListener(f.upstream, f.listen):
		// The sidecar started and forwarded every admitted request back
		// to itself, each pass audited, until the public or tenant cap
		// of the upstream pool answered 503 or 429: 256 records for one
		// request (TestSidecarUpstreamOwnListenerRefused).
		return fmt.Errorf("--upstream %s is this sidecar's own --listen %s: every request would be forwarded back to the sidecar; give the service's host:port", f.upstream, f.listen)
	case reachesOwnListener(f.upstream, f.admin):
		return fmt.Errorf("--upstream %s is this sidecar's own --admin %s: give the service's host:port", f.upstream, f.admin)
	case (f.policyFile == "") == (f.etcd.endpoints == ""):
		return errors.New("give exactly one of --policy FILE or --etcd ENDPOINTS")
	case f.collector != "" && f.tokenFile == "" && f.collectorCert == "":
		// The collector refuses every batch without one: the records
		// would pile up in the spool while the sidecar reported ready.
		return fmt.Errorf("--collector %s needs this sidecar's credential: --collector-token-file FILE, or --collector-cert FILE with --collector-key FILE", redactURL(f.collector))
	}
	if err := f.tls.check(); err != nil {
		return err
	}
	if err := checkSidecarNumbers(f); err != nil {
		return err
	}
	if err := checkListenAddrs("listen", f.listen, "admin", f.admin); err != nil {
		return err
	}
	if err := dataplane.CheckOpenFiles(f.maxConns); err != nil {
		return err // before anything starts: the cap would not fit
	}
	if err := checkFlagFiles("policy", f.policyFile, "audit-file", f.auditFile, "collector-token-file", f.tokenFile,
		"collector-cacert", f.collectorCA, "collector-cert", f.collectorCert, "collector-key", f.collectorKey,
		"tls-cert", f.tls.cert, "tls-key", f.tls.key, "client-ca", f.tls.clientCA, "client-crl", f.tls.clientCRL); err != nil {
		return err
	}
	if err := f.etcd.checkFiles(); err != nil {
		return err
	}
	return checkLogLevel(f.logLevel)
}

// checkSidecarNumbers refuses numbers the sidecar would otherwise replace
// without a word (a cap of 0 became the default) or act on badly (a
// negative drain cuts every in-flight request).
func checkSidecarNumbers(f sidecarFlags) error {
	switch {
	case f.maxConns < 0:
		return fmt.Errorf("--max-conns %d: want 0 (sized to the memory limit) or more", f.maxConns)
	case f.maxPerIP < 1:
		return fmt.Errorf("--max-conns-per-ip %d: want at least 1", f.maxPerIP)
	case f.tokenFails < 1:
		return fmt.Errorf("--token-failures-per-ip %d: want at least 1", f.tokenFails)
	case f.maxUpConns < 1:
		return fmt.Errorf("--upstream-max-conns %d: want at least 1", f.maxUpConns)
	case f.tenantMax < 0 || f.tenantMax > f.maxUpConns:
		return fmt.Errorf("--tenant-max-in-flight %d: want 0 (half of --upstream-max-conns) to --upstream-max-conns (%d)", f.tenantMax, f.maxUpConns)
	case f.drain < 0:
		return fmt.Errorf("--drain %s: want 0s or more", f.drain)
	case f.drainDelay < 0:
		return fmt.Errorf("--drain-delay %s: want 0s or more", f.drainDelay)
	case f.metricsTenants < 0:
		return fmt.Errorf("--metrics-tenants %d: want 0 (none by name) or more", f.metricsTenants)
	}
	return nil
}
