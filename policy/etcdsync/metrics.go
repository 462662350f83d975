package etcdsync

import (
	"math"
	"strconv"
	"time"
)

// AppendMetrics appends the Syncer's metrics to dst in the Prometheus text
// format and returns the extended slice:
//
//	portcullis_policy_revision                      gauge: etcd revision applied
//	portcullis_policy_staleness_seconds             gauge: since etcd last confirmed the policy (+Inf before)
//	portcullis_policy_compile_failures_total        counter: policies refused
//	portcullis_etcd_watch_restarts_total            counter: watches lost and followed by a full re-read
//	portcullis_policy_last_apply_timestamp_seconds  gauge: Unix time of the last snapshot swap
//	portcullis_policy_invalid_records               gauge: invalid key, revocation and suspension records in force
//	portcullis_policy_invalid_records_total         counter: invalid records reported (each once)
func (s *Syncer) AppendMetrics(dst []byte) []byte {
	stale := math.Inf(1)
	if h := s.store.HeardAt(); h != 0 {
		stale = max(0, time.Since(time.Unix(0, h)).Seconds())
	}
	dst = metric(dst, "portcullis_policy_revision", "gauge", "etcd revision of the policy state applied.", float64(s.revision.Load()))
	dst = metric(dst, "portcullis_policy_staleness_seconds", "gauge", "Seconds since etcd last confirmed the policy is current.", stale)
	dst = metric(dst, "portcullis_policy_compile_failures_total", "counter", "Policies refused because they did not compile.", float64(s.failures.Load()))
	dst = metric(dst, "portcullis_etcd_watch_restarts_total", "counter", "etcd watches lost and followed by a full re-read.", float64(s.restarts.Load()))
	dst = metric(dst, "portcullis_policy_invalid_records", "gauge", "Invalid key, revocation and suspension records in the state applied.", float64(s.invalidNow.Load()))
	dst = metric(dst, "portcullis_policy_invalid_records_total", "counter", "Invalid key, revocation and suspension records reported, each once.", float64(s.invalidTotal.Load()))
	return metric(dst, "portcullis_policy_last_apply_timestamp_seconds", "gauge", "Unix time the last policy snapshot was applied.", float64(s.lastApply.Load())/1e9)
}

// metric appends one metric with its HELP and TYPE lines.
func metric(dst []byte, name, typ, help string, v float64) []byte {
	dst = append(append(append(append(dst, "# HELP "...), name...), ' '), help...)
	dst = append(append(append(append(dst, "\n# TYPE "...), name...), ' '), typ...)
	dst = append(append(append(dst, '\n'), name...), ' ')
	if math.IsInf(v, 1) {
		dst = append(dst, "+Inf"...)
	} else {
		dst = strconv.AppendFloat(dst, v, 'f', -1, 64)
	}
	return append(dst, '\n')
}
