package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/dataplane"
	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
)

// auditSink is the sidecar's audit transport with its lifecycle hooks.
type auditSink struct {
	dataplane.Sink
	close   func() error
	metrics []func([]byte) []byte
}

// openAuditSink picks the transport: the collector (flag, else the policy's
// audit.collector), or a JSON-lines file, or none (records counted as dropped).
func openAuditSink(f sidecarFlags, store *policy.Store, log zerolog.Logger) (*auditSink, error) {
	url := f.collector
	if snap := store.Load(); url == "" && snap != nil {
		url = snap.Collector
	}
	switch {
	case url != "":
		return openEmitter(f, url, store, log)
	case f.auditFile != "":
		w, err := audit.NewFileWriter(f.auditFile, audit.FileConfig{})
		if err != nil {
			return nil, fmt.Errorf("cannot open audit file: %w", err)
		}
		log.Info().Str("audit_file", f.auditFile).Msg("audit records go to a JSON-lines file")
		return &auditSink{Sink: w, close: w.Close}, nil
	}
	log.Warn().Msg("no --collector or --audit-file: audit records are dropped and counted")
	return &auditSink{close: func() error { return nil }}, nil
}

func openEmitter(f sidecarFlags, url string, store *policy.Store, log zerolog.Logger) (*auditSink, error) {
	var token string
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read collector token: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	mode := audit.BestEffort
	if snap := store.Load(); snap != nil && snap.AuditStrict {
		mode = audit.Strict
	}
	e, err := audit.NewEmitter(audit.EmitterConfig{URL: url, Token: token, SpoolDir: f.spoolDir, SpoolMaxBytes: int64(f.spoolMax), Mode: mode})
	if err != nil {
		return nil, fmt.Errorf("cannot start audit emitter: %w", err)
	}
	log.Info().Str("collector", url).Str("spool", f.spoolDir).Msg("audit records go to the collector")
	return &auditSink{Sink: e, close: e.Close, metrics: []func([]byte) []byte{emitterMetrics(e)}}, nil
}

// emitterMetrics renders the emitter's exact counters for /metrics.
func emitterMetrics(e *audit.Emitter) func([]byte) []byte {
	return func(b []byte) []byte {
		st := e.Stats()
		for _, c := range []struct {
			name string
			v    uint64
		}{
			{"captured", st.Captured}, {"delivered", st.Delivered}, {"spooled", st.Spooled},
			{"replayed", st.Replayed}, {"dropped", st.Dropped}, {"aggregated", st.Aggregated},
		} {
			b = fmt.Appendf(b, "portcullis_audit_records_total{outcome=%q} %d\n", c.name, c.v)
		}
		return fmt.Appendf(b, "portcullis_audit_spool_records %d\n", st.SpoolRecords)
	}
}
