package main

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	neturl "net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/dataplane"
	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
)

// auditSink is the sidecar's audit transport with its lifecycle hooks.
type auditSink struct {
	sink     dataplane.Sink // nil when there is no destination
	close    func() error
	checks   []dataplane.Check  // for /readyz
	families []dataplane.Family // for /metrics
}

// openAuditSink picks the transport: the collector (flag, else the policy's
// audit.collector), or a JSON-lines file, or none. With none the sidecar
// serves and counts every record in portcullis_audit_dropped_total; a
// policy in audit.mode strict then answers 503 (no record, no service) and
// /readyz says why. The sink is a nil interface then, never an auditSink
// holding a nil one (issue 13, item 1: that panicked on the first request).
// In etcd mode the policy arrives after this runs: with neither flag, the
// emitter opens once the policy in force names a collector (policySink).
func openAuditSink(f sidecarFlags, store *policy.Store, log zerolog.Logger) (*auditSink, error) {
	url := f.collector
	if snap := store.Load(); url == "" && snap != nil {
		url = snap.Collector
	}
	switch {
	case url != "":
		return openEmitter(f, url, store, log)
	case f.auditFile != "":
		flog := log.With().Str("component", "audit").Logger()
		w, err := audit.NewFileWriter(f.auditFile, audit.FileConfig{Log: &flog})
		if err != nil {
			return nil, err // it names the file and why
		}
		log.Info().Str("audit_file", f.auditFile).Msg("audit records go to a JSON-lines file")
		return &auditSink{sink: w, close: w.Close, checks: []dataplane.Check{fileCheck(w, f.auditFile)}, families: fileFamilies(w)}, nil
	case f.policyFile == "":
		return openPolicySink(f, store, log)
	}
	log.Warn().Msg("no --collector or --audit-file: audit records are dropped and counted in portcullis_audit_dropped_total; audit.mode strict answers 503")
	return &auditSink{close: func() error { return nil }}, nil
}

// emitterSettings are what the sidecar's flags give every emitter.
type emitterSettings struct {
	token string
	tls   *tls.Config
	roots *caBundle // --collector-cacert, re-read when it changes; nil: s.tls's RootCAs
}

// readEmitterSettings reads the collector token and TLS files. The
// client certificate is read again when its files change, as the
// injector's and the collector's: read once, a renewed certificate was
// presented only after a restart, and once the old one expired the
// collector refused every batch and the spool filled
// (TestSidecarPresentsRenewedCollectorCertificate).
func readEmitterSettings(f sidecarFlags, log zerolog.Logger) (emitterSettings, error) {
	var s emitterSettings
	if f.tokenFile != "" {
		b, err := durable.ReadRegularMax(f.tokenFile, collector.MaxKeyFileBytes)
		if err != nil {
			return s, fmt.Errorf("cannot read collector token %q: %w", f.tokenFile, err)
		}
		if s.token, err = collectorToken(b); err != nil {
			return s, fmt.Errorf("--collector-token-file %s: %w", f.tokenFile, err)
		}
	}
	var err error
	if s.tls, err = audit.ClientTLS(f.collectorCA, f.collectorCert, f.collectorKey); err != nil {
		return s, fmt.Errorf("%w (flags --collector-cacert, --collector-cert, --collector-key)", err)
	}
	if f.collectorCert != "" {
		certs := &certFiles{cert: f.collectorCert, key: f.collectorKey, flags: [2]string{"collector-cert", "collector-key"}, log: log.With().Str("component", "audit").Logger()}
		if _, err := certs.get(nil); err != nil {
			return s, fmt.Errorf("%w (flags --collector-cert, --collector-key)", err)
		}
		s.tls.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return certs.get(nil) }
	}
	if f.collectorCA != "" {
		s.roots = &caBundle{flag: "collector-cacert", path: f.collectorCA, log: log.With().Str("component", "audit").Logger()}
		if _, err := s.roots.pool(); err != nil {
			return s, err
		}
	}
	return s, nil
}

// emitterTLS returns the TLS configuration of an emitter to url. With
// --collector-cacert it verifies the collector's certificate itself, at
// every handshake, with the CAs the file holds then (caBundle) and the
// host of url, as crypto/tls does with RootCAs and ServerName: read at
// start only, a rotated collector CA took a restart of every sidecar,
// and until then each refused the collector's new certificate and
// spooled (TestSidecarRereadsCollectorCA). crypto/tls hands
// VerifyConnection no server name for an IP address, so the name is
// taken from url here.
func emitterTLS(s emitterSettings, url string) *tls.Config {
	u, err := neturl.Parse(url)
	if s.roots == nil || err != nil || u.Scheme != "https" {
		return s.tls // an error is newPoster's to report
	}
	cfg := s.tls.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	name, roots := cfg.ServerName, s.roots
	cfg.RootCAs, cfg.InsecureSkipVerify = nil, true // verified in full below
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		pool, err := roots.pool()
		if err != nil {
			return err
		}
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the collector sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err = cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: name, Intermediates: inter})
		return err
	}
	return cfg
}

// newEmitter starts an emitter to url whose mode follows the policy in
// force, which a push or reload can switch: fixed at start, a policy
// switched to strict kept a best_effort emitter that dropped records while
// serving.
func newEmitter(f sidecarFlags, s emitterSettings, url string, store *policy.Store, log zerolog.Logger) (*audit.Emitter, error) {
	mode := audit.BestEffort
	if snap := store.Load(); snap != nil && snap.AuditStrict {
		mode = audit.Strict
	}
	elog := log.With().Str("component", "audit").Logger()
	service := cmp.Or(f.service, defaultService) // callers that build sidecarFlags by hand (dev)
	strict := func() bool { snap := store.Load(); return snap != nil && snap.AuditStrict }
	e, err := audit.NewEmitter(audit.EmitterConfig{URL: url, Token: s.token, TLS: emitterTLS(s, url), SpoolDir: f.spoolDir, SpoolMaxBytes: int64(f.spoolMax), Mode: mode, Strict: strict,
		Service: service, Pod: f.podName(), Namespace: os.Getenv("POD_NAMESPACE"), Log: &elog})
	if err != nil {
		return nil, fmt.Errorf("cannot start audit emitter: %w", err)
	}
	log.Info().Str("collector", redactURL(url)).Str("spool", f.spoolDir).Str("service", service).Msg("audit records go to the collector")
	return e, nil
}

func openEmitter(f sidecarFlags, url string, store *policy.Store, log zerolog.Logger) (*auditSink, error) {
	s, err := readEmitterSettings(f, log)
	if err != nil {
		return nil, err
	}
	e, err := newEmitter(f, s, url, store, log)
	if err != nil {
		return nil, err
	}
	shown := redactURL(url)
	get := func() (*audit.Emitter, string) { return e, shown }
	return &auditSink{sink: e, close: e.Close, checks: []dataplane.Check{emitterCheck(get)}, families: emitterFamilies(get)}, nil
}

// emitterCheck is the /readyz line of the emitter get returns (nil: none yet).
func emitterCheck(get func() (*audit.Emitter, string)) dataplane.Check {
	return dataplane.Check{Name: "audit collector", State: func() (bool, string) {
		e, shown := get()
		if e == nil {
			return true, "no collector yet: the policy in force names no audit.collector (and there is no --collector); records are dropped and counted"
		}
		st := e.Stats()
		return true, fmt.Sprintf("%s: %s; %d records spooled", shown, e.Health(), st.SpoolRecords)
	}}
}

// policySink is the audit sink of an etcd-mode sidecar with neither
// --collector nor --audit-file: it opens the emitter once the policy in
// force names audit.collector, and until then captures nothing (the data
// plane counts every record dropped; strict answers 503). Before, the sink
// was chosen when the sidecar started, before etcd's policy arrived, and
// the policy's collector was never used.
type policySink struct {
	e     atomic.Pointer[audit.Emitter]
	shown atomic.Pointer[string]
	stop  chan struct{}
	done  chan struct{}
}

// policySinkPoll is how often policySink looks for a collector in the policy.
const policySinkPoll = 100 * time.Millisecond

func openPolicySink(f sidecarFlags, store *policy.Store, log zerolog.Logger) (*auditSink, error) {
	s, err := readEmitterSettings(f, log)
	if err != nil {
		return nil, err
	}
	p := &policySink{stop: make(chan struct{}), done: make(chan struct{})}
	log.Warn().Msg("no --collector or --audit-file: audit records go to the collector the policy names (audit.collector) once it is read from etcd; until then, or without one, they are dropped and counted in portcullis_audit_dropped_total and audit.mode strict answers 503")
	go p.watch(f, s, store, log)
	return &auditSink{sink: p, close: p.close, checks: []dataplane.Check{emitterCheck(p.current)}, families: emitterFamilies(p.current)}, nil
}

// watch opens the emitter when the policy in force first names a
// collector; a later change of audit.collector needs a restart.
func (p *policySink) watch(f sidecarFlags, s emitterSettings, store *policy.Store, log zerolog.Logger) {
	defer close(p.done)
	t := time.NewTicker(policySinkPoll)
	defer t.Stop()
	var lastErr string
	for {
		if snap := store.Load(); snap != nil && snap.Collector != "" {
			e, err := newEmitter(f, s, snap.Collector, store, log)
			if err == nil {
				shown := redactURL(snap.Collector)
				p.shown.Store(&shown)
				p.e.Store(e)
				return
			}
			if err.Error() != lastErr {
				lastErr = err.Error()
				log.Error().Err(err).Msg("cannot open the audit emitter to the policy's collector; retrying")
			}
		}
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

// current returns the emitter, nil before it opened.
func (p *policySink) current() (*audit.Emitter, string) {
	e := p.e.Load()
	if e == nil {
		return nil, ""
	}
	return e, *p.shown.Load()
}

// Swap hands r to the emitter, or refuses it before there is one.
func (p *policySink) Swap(r *audit.Record) (*audit.Record, bool) {
	if e := p.e.Load(); e != nil {
		return e.Swap(r)
	}
	return r, false
}

// Accepting reports whether the emitter, once there is one, accepts.
func (p *policySink) Accepting() bool {
	e := p.e.Load()
	return e != nil && e.Accepting()
}

// close stops the watch and closes the emitter.
func (p *policySink) close() error {
	close(p.stop)
	<-p.done
	if e := p.e.Load(); e != nil {
		return e.Close()
	}
	return nil
}

// collectorToken returns the token a --collector-token-file holds: one
// token, surrounding whitespace ignored. A collector's token file (`name
// token` lines) given to the sidecar sent the whole line as the token:
// every batch was refused and spooled until the spool filled. The error
// never quotes the file.
func collectorToken(b []byte) (string, error) {
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", errors.New("the file is empty; it holds the sender's token alone")
	}
	for _, c := range []byte(token) {
		if c <= ' ' || c == 0x7f {
			return "", errors.New("the file holds more than one token (whitespace or a control character inside): it holds this sidecar's token alone, not the collector's `name token` lines")
		}
	}
	return token, nil
}

// emitterFamilies are the exact counters of the emitter get returns as
// /metrics families (zero before there is one).
func emitterFamilies(get func() (*audit.Emitter, string)) []dataplane.Family {
	stats := func() audit.EmitterStats {
		if e, _ := get(); e != nil {
			return e.Stats()
		}
		return audit.EmitterStats{}
	}
	records := func(b []byte) []byte {
		st := stats()
		for _, c := range []struct {
			name string
			v    uint64
		}{
			{"captured", st.Captured}, {"delivered", st.Delivered}, {"spooled", st.Spooled},
			{"replayed", st.Replayed}, {"restored", st.Restored}, {"dropped", st.Dropped}, {"aggregated", st.Aggregated},
		} {
			b = fmt.Appendf(b, "portcullis_audit_records_total{outcome=%q} %d\n", c.name, c.v)
		}
		return b
	}
	return []dataplane.Family{
		{Name: "portcullis_audit_records_total", Type: "counter", Help: "Audit records by outcome: captured, then delivered, spooled (and later replayed) or dropped; restored: spooled records counted dropped with a deleted spool directory, then put back by hand and delivered (not counted replayed).", Samples: records},
		dataplane.Gauge("portcullis_audit_spool_records", "Audit records waiting in the spool for the collector.", func() float64 { return float64(stats().SpoolRecords) }),
		dataplane.Gauge("portcullis_audit_spool_bytes", "Bytes of audit batches in the spool.", func() float64 { return float64(stats().SpoolBytes) }),
		dataplane.Counter("portcullis_audit_delivery_failures_total", "Failed attempts to deliver an audit batch (each retried or spooled).", func() uint64 { return stats().Retries }),
		dataplane.Counter("portcullis_audit_batches_split_total", "Audit batches cut in two because the link to the collector did not carry them within its read timeout or the sidecar's (answered 408 or not at all).", func() uint64 { return stats().Splits }),
		dataplane.Gauge("portcullis_audit_batch_cap_records", "Records a new audit batch holds at most after one was too slow for the link to the collector (halved below the batch that failed, raised by a quarter a minute while batches pass); 0: no cap, the batch size.", func() float64 { return float64(stats().BatchCap) }),
		dataplane.Gauge("portcullis_audit_collector_failing", "1 while the last attempt to deliver an audit batch failed, else 0.", func() float64 {
			if e, _ := get(); e != nil && e.Health().Failing {
				return 1
			}
			return 0
		}),
	}
}

// fileCheck is the /readyz line of the JSON-lines audit file. The file's
// state does not make the sidecar unready by itself: strict audit mode
// does, through the data plane's own audit check.
func fileCheck(w *audit.FileWriter, path string) dataplane.Check {
	return dataplane.Check{Name: "audit file", State: func() (bool, string) {
		st := w.Stats()
		state := "writing"
		if w.Failing() {
			state = "not taking writes (disk full?): records wait in memory, new ones are refused and counted"
		}
		return true, fmt.Sprintf("%s: %s; %d written, %d failed writes, %d lost", path, state, st.Written, st.WriteErrors, st.Lost)
	}}
}

// fileFamilies are the JSON-lines file writer's counters as /metrics
// families.
func fileFamilies(w *audit.FileWriter) []dataplane.Family {
	records := func(b []byte) []byte {
		st := w.Stats()
		for _, c := range []struct {
			name string
			v    uint64
		}{{"captured", st.Captured}, {"written", st.Written}, {"dropped", st.Dropped}, {"lost", st.Lost}} {
			b = fmt.Appendf(b, "portcullis_audit_records_total{outcome=%q} %d\n", c.name, c.v)
		}
		return b
	}
	return []dataplane.Family{
		{Name: "portcullis_audit_records_total", Type: "counter", Help: "Audit records by outcome: captured, then written to the audit file, or dropped (not captured) or lost (captured, never written).", Samples: records},
		dataplane.Counter("portcullis_audit_file_write_errors_total", "Failed writes to the audit file (their records wait and are written again).", func() uint64 { return w.Stats().WriteErrors }),
		dataplane.Gauge("portcullis_audit_file_failing", "1 while the audit file takes no writes (records wait in memory, new ones are refused), else 0.", func() float64 {
			if !w.Failing() {
				return 0
			}
			return 1
		}),
	}
}

// redactURL hides a password in a collector URL, for logs and /readyz.
func redactURL(s string) string {
	u, err := neturl.Parse(s)
	if err != nil {
		return "(unparsable collector URL)"
	}
	return u.Redacted()
}
