package etcdsync

import (
	"math"
	"strconv"
	"time"
)

// Metric is one metric family the Syncer alone knows: its name, type
// ("counter" or "gauge"), help sentence and current value. The sidecar
// registers these beside the data plane's families, which already cover
// the policy in force (its revision, reload time and refused compiles),
// so no family is written twice.
type Metric struct {
	Name, Type, Help string
	Value            func() float64
}

// Metrics returns the Syncer's metric families:
//
//	portcullis_policy_staleness_seconds   gauge: since etcd last confirmed the policy (+Inf before)
//	portcullis_etcd_revision              gauge: etcd revision read so far (>= the policy's revision)
//	portcullis_etcd_current               gauge: 1 in sync with etcd, 0 while etcd does not answer or the last-known-good file is served
//	portcullis_etcd_watch_restarts_total  counter: watches lost and followed by a full re-read
//	portcullis_etcd_revision_rewinds_total counter: re-reads that found etcd below the revision applied, followed
//	portcullis_policy_lkg_save_failures_total counter: writes of the last-known-good file that failed
//	portcullis_policy_lkg_failing         gauge: 1 while the last save of the last-known-good file failed
//	portcullis_policy_lkg_revision        gauge: revision of the state last saved to it (0: none yet)
//	portcullis_policy_revocations_held    gauge: revocations held in force that etcd lost going back in revision, or that went before they lapsed
//	portcullis_policy_suspensions_held    gauge: suspensions held in force (until their until) that etcd lost so
//	portcullis_policy_invalid_records     gauge: invalid key, revocation and suspension records in force
//	portcullis_policy_invalid_records_total counter: invalid records reported (each once)
func (s *Syncer) Metrics() []Metric {
	return []Metric{
		{"portcullis_policy_staleness_seconds", "gauge", "Seconds since etcd last confirmed the policy is current (+Inf before the first confirmation).", s.staleness},
		{"portcullis_etcd_revision", "gauge", "etcd revision the sidecar has read up to; the policy in force is at this revision or older.", func() float64 { return float64(s.revision.Load()) }},
		{"portcullis_etcd_current", "gauge", "1 while in sync with etcd, 0 while etcd does not answer (the policy in force, or the last-known-good snapshot, is served).", func() float64 { return b2f(s.current.Load() && s.down.Load() == 0) }},
		{"portcullis_etcd_watch_restarts_total", "counter", "etcd watches lost and followed by a full re-read.", func() float64 { return float64(s.restarts.Load()) }},
		{"portcullis_etcd_revision_rewinds_total", "counter", "Re-reads that found etcd below the revision applied (restored or replaced cluster); the sidecar followed etcd.", func() float64 { return float64(s.rewinds.Load()) }},
		{"portcullis_policy_lkg_save_failures_total", "counter", "Writes of the last-known-good policy file that failed: each retry, and a write that found the disk full before the older file made room.", func() float64 { return float64(s.saveFailures.Load()) }},
		{"portcullis_policy_lkg_failing", "gauge", "1 while the last save of the last-known-good policy file failed: a restart while etcd is unreachable would serve an older policy, or none.", func() float64 { return b2f(s.LKGHealth().Failing) }},
		{"portcullis_policy_lkg_revision", "gauge", "etcd revision of the state last saved to the last-known-good policy file by this process (0: none yet).", func() float64 { return float64(s.LKGHealth().Revision) }},
		{"portcullis_policy_revocations_held", "gauge", "Revocations in force that etcd lost when it went back in revision (a restored backup), or that went from etcd before they lapsed on this sidecar's clock, held until revoked again in etcd or lapsed.", func() float64 { return float64(s.heldN.Load()) }},
		{"portcullis_policy_suspensions_held", "gauge", "Suspensions in force that etcd lost when it went back in revision (a restored backup), held until their until or until suspended again in etcd.", func() float64 { return float64(s.heldSN.Load()) }},
		{"portcullis_policy_invalid_records", "gauge", "Invalid key, revocation and suspension records in the state applied.", func() float64 { return float64(s.invalidNow.Load()) }},
		{"portcullis_policy_invalid_records_total", "counter", "Invalid key, revocation and suspension records reported, each once.", func() float64 { return float64(s.invalidTotal.Load()) }},
	}
}

func (s *Syncer) staleness() float64 {
	if d, ok := s.Staleness(); ok {
		return d.Seconds()
	}
	return math.Inf(1)
}

// Staleness returns how long ago etcd last confirmed the policy in force,
// and false before it has (or when the last-known-good file's
// confirmation lay ahead of the clock: policy.Store.Heard). It is the age
// staleness.max_age is enforced on, the larger of the wall clock's
// (SyncConfig.Now) and the monotonic clock's: on the wall clock alone, one
// stepped back after a confirmation made the metric and /readyz say
// fresh while requests were refused as stale
// (TestStalenessMetricAfterWallClockStepsBack).
func (s *Syncer) Staleness() (time.Duration, bool) {
	return s.store.HeardAge(s.cfg.Now().UnixNano(), time.Now())
}

// Confirmation says, for /readyz, how long ago etcd last confirmed the
// policy (Staleness) and whether that is past the policy's
// staleness.max_age, past which staleness.action deny refuses
// credentialed requests.
func (s *Syncer) Confirmation() string {
	d, ok := s.Staleness()
	if !ok {
		return "policy not confirmed by etcd yet (or the last-known-good file's confirmation lies ahead of the clock): counted stale"
	}
	msg := "policy last confirmed by etcd " + d.Round(time.Second).String() + " ago"
	if snap := s.store.Load(); snap != nil && snap.StaleAfter > 0 && d > snap.StaleAfter {
		msg += ", past staleness.max_age " + snap.StaleAfter.String()
		if snap.StaleDeny {
			msg += ": credentialed requests answer 503 policy_stale"
		}
	}
	return msg
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// AppendMetrics appends Metrics to dst in the Prometheus text format and
// returns the extended slice.
func (s *Syncer) AppendMetrics(dst []byte) []byte {
	for _, m := range s.Metrics() {
		dst = metric(dst, m.Name, m.Type, m.Help, m.Value())
	}
	return dst
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
