package collector

import (
	"fmt"
	"net/http"
)

// MetricsHandler serves /metrics, /healthz and /readyz without authentication, for
// a listener of their own that only the monitoring network reaches
// (portcullis collector --metrics-listen).
func (c *Collector) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics", "/healthz", "/readyz":
			if !c.readOnly(w, r) {
				return
			}
		}
		switch r.URL.Path {
		case "/metrics":
			c.writeMetrics(w)
		case "/healthz":
			c.writeHealth(w, true)
		case "/readyz":
			c.writeReady(w, true)
		default:
			c.fail(w, r, rejectNotFound, http.StatusNotFound, "not_found", "no such endpoint")
		}
	})
}

// writeMetrics writes the counters in the Prometheus text format.
func (c *Collector) writeMetrics(w http.ResponseWriter) {
	st := c.store.Stats()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	metric := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	metric("portcullis_collector_batches_total", "Audit batches stored.", st.Batches)
	metric("portcullis_collector_records_total", "Audit records stored.", st.Records)
	metric("portcullis_collector_counts_not_believed_total", "Records stored with a count reports do not take as written: a count on a record the sidecar never aggregates (allowed, or naming who called, other than a client's rate_limited naming a token bucket or concurrency_limited naming an in-flight cap, answered 429 and naming a tenant), taken as one request; past its ceiling (65,536, the most a sidecar folds into one), taken as 65,536; or past its sender's ceiling for its second (65,536,000), flagged count_past_sender_ceiling, or dated 4,096 seconds or more before the newest second its sender's counts were summed in (or, after a restart, before the first second the start summed again), flagged count_outside_sender_window, either taken as one.", st.CountsNotBelieved)
	metric("portcullis_collector_duplicates_total", "Batches acknowledged without storing because their id was stored before.", st.Duplicates)
	metric("portcullis_collector_events_total", "Lifecycle events stored.", st.Events)
	metric("portcullis_collector_expired_segments_total", "Segments deleted by retention.", st.Expired)
	metric("portcullis_collector_events_unverified_total", "Lifecycle events stored marked unverified: the change they describe is not in their etcd transaction.", st.Unverified)
	metric("portcullis_collector_event_duplicates_total", "Lifecycle events not stored again (same etcd key and revision).", st.EventDuplicates)
	metric("portcullis_collector_breaks_recorded_total", "Breaks this process recorded in the audit chain at its start (newest entries cut, the head deleted or forked, entries it could not vouch for, a rollback accepted): audit verify fails from each on; see the collector's log.", st.Breaks)
	metric("portcullis_collector_deferred_total", "Failures after an entry was stored (head, rotation), retried on the next append.", st.Deferred)
	metric("portcullis_collector_connections_refused_total", "Connections closed because their client address (an IPv6 one by its /64) held too many unauthenticated ones.", c.conns.refused.Load())
	metric("portcullis_collector_connection_errors_total", "Connection errors net/http reported on the collector's listeners: failed TLS handshakes, and accept errors it retried (too many open files); logged at most once a second.", c.serverLog.Errors())
	metric("portcullis_collector_connections_capped_total", "Connections closed because the collector held --max-conns open connections.", c.conns.capped.Load())
	gauge := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	gauge("portcullis_collector_connections_open", "Connections open on the intake listener (at most --max-conns).", int64(c.conns.open()))
	gauge("portcullis_collector_anchors_withheld", "Anchors (etcd, --publish-head) signed heads are not published to, because the store does not hold the head published there (rolled back or forked) or another collector's head replaced this one's there (see the collector's log and /healthz).", int64(st.AnchorsWithheld))
	metric("portcullis_collector_head_conflicts_total", "Publications of the signed head refused because another collector's head (another chain's) replaced this collector's at an anchor: two collectors publish to one etcd prefix or file.", st.HeadConflicts)
	metric("portcullis_collector_store_probes_total", "Probes of a store refusing appends, asked by /readyz (at most one a second; others answer from the last).", st.Probes)
	metric("portcullis_collector_head_publish_failures_total", "Rounds of signing the store's head (every --sign-every) that failed to sign it or to publish it to an anchor (etcd, --publish-head); see the collector's log.", st.HeadFailures)
	published := int64(0)
	if !st.HeadPublished.IsZero() {
		published = st.HeadPublished.Unix()
	}
	gauge("portcullis_collector_head_published_timestamp_seconds", "When a signed head was last published to every anchor (0: not yet by this process); alert when it falls behind --sign-every.", published)
	metric("portcullis_collector_outside_window_total", "Batches refused 409 batch_outside_window: their sequence lay below the deduplication window of their sender's instance.", st.OutsideWindow)
	gauge("portcullis_collector_inflight_bytes", "Memory held by the requests being read: body buffers (by capacity) and gzip readers.", c.inflight.held.Load())
	gauge("portcullis_collector_inflight_budget_bytes", "The most the requests being read may hold (--max-inflight-bytes); a request that would take more is answered 503 collector_busy.", c.cfg.MaxInflightBytes)
	const rej = "portcullis_collector_rejects_total"
	fmt.Fprintf(w, "# HELP %s Requests rejected, by reason.\n# TYPE %s counter\n", rej, rej)
	for i := range c.rejects {
		fmt.Fprintf(w, "%s{reason=%q} %d\n", rej, rejectNames[i], c.rejects[i].Load())
	}
	if c.cfg.Metrics != nil {
		c.cfg.Metrics(w)
	}
}
