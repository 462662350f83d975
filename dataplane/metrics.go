package dataplane

import (
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/dataplane/jwt"
)

// maxClassSlots bounds the class label of request metrics: class names come
// from the policy, and past this many distinct names they share "other".
const maxClassSlots = 32

// latencyBuckets are the upper bounds, in seconds, of the latency histogram.
var latencyBuckets = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// latencyBucketsNs are latencyBuckets in nanoseconds, compared on the
// request path without float arithmetic.
var latencyBucketsNs = func() (t [len(latencyBuckets)]int64) {
	for i, b := range latencyBuckets {
		t[i] = int64(b * 1e9)
	}
	return t
}()

// limiterScopes names the limiter denials by what denied: the names the
// audit record's Limit gives them (key, tenant, class, concurrency,
// tenant_in_flight), so a metric's scope and a record's limit agree; and
// public, the in-flight cap of public routes, whose refusals the decision
// public_limited names. limit.go counts by these indexes.
var limiterScopes = [...]string{audit.LimitKey.String(), audit.LimitTenant.String(), audit.LimitClass.String(), audit.LimitConcurrency.String(), "public", audit.LimitTenantInFlight.String()}

// numLatency is the number of latency histogram cells, +Inf included.
const numLatency = len(latencyBuckets) + 1

// metrics are the data plane's counters: fixed arrays of atomics, so
// counting never allocates, locks or carries a caller-supplied label.
//
// A request is counted in one cell by class, decision, whether its API key
// was verified from the front cache, and latency bucket; requests by class
// and decision, the latency histogram and the front's hits are all sums of
// these cells, taken when scraped. That is one atomic add per request
// (plus the latency sum) where separate counters took three
// (docs/performance.md gives the cost of an atomic add), and the 170 KiB of
// cells are only ever touched where requests land.
type metrics struct {
	requests     [maxClassSlots + 1][audit.NumDecisions][2][numLatency]atomic.Uint64 // slot 0: no route; [1]: front hit
	latencySumNs atomic.Uint64
	limited      [len(limiterScopes)]atomic.Uint64
	tokenRefused [jwt.NumStatus]atomic.Uint64 // tokens refused, by the check they failed (credential.go)
	auditDropped atomic.Uint64
	panics       atomic.Uint64
	saturated    atomic.Uint64 // requests refused because no upstream connection freed within the wait

	tenants      tenantTable // per-tenant counters (metrics_tenant.go)
	tenantSeries int         // tenants named on /metrics (Config.TenantSeries)

	mu    sync.Mutex // guards the following fields
	slots []string   // class name of slot i+1
}

// classSlot returns the metrics slot for a class name, assigning one the
// first time a name is seen.
func (m *metrics) classSlot(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, n := range m.slots {
		if n == name {
			return i + 1
		}
	}
	if len(m.slots) == maxClassSlots-1 {
		m.slots = append(m.slots, "other")
	}
	if len(m.slots) >= maxClassSlots {
		return maxClassSlots
	}
	m.slots = append(m.slots, name)
	return len(m.slots)
}

// count counts the request in its cell; the latency sum is the caller's
// to add.
func (m *metrics) count(x *exchange, durNs int64) {
	slot := 0
	if x.route != nil && x.prep != nil {
		slot = x.prep.classSlot[x.route.Class.Index]
	}
	i := 0
	for i < len(latencyBucketsNs) && durNs > latencyBucketsNs[i] {
		i++
	}
	hit := 0
	if x.keyHit {
		hit = 1
	}
	m.requests[slot][x.rec.Decision][hit][i].Add(1)
}

// Families returns the data plane's metric families, in the order
// /metrics shows them. Every sum is taken from the request cells when
// scraped.
func (s *Server) Families() []Family {
	m := &s.metrics
	return append([]Family{
		{Name: "portcullis_requests_total", Type: "counter", Help: "Requests by endpoint class and decision.", Samples: m.appendRequests},
		{Name: "portcullis_request_duration_seconds", Type: "histogram", Help: "Time from request to response, in the sidecar.", Samples: m.appendLatency},
		{Name: "portcullis_tenant_requests_total", Type: "counter", Help: "Requests by tenant and decision: the top tenants by recent traffic by name, the others summed in tenant=\"_other\", requests without a tenant in tenant=\"_none\".", Samples: m.appendTenantRequests},
		{Name: "portcullis_tenant_response_bytes_total", Type: "counter", Help: "Response body bytes sent, by tenant (the tenants named as in portcullis_tenant_requests_total).", Samples: m.appendTenantBytes},
		{Name: "portcullis_limiter_denials_total", Type: "counter", Help: "Requests denied by a limiter, by what denied.", Samples: m.appendLimited},
		{Name: "portcullis_jwt_refused_total", Type: "counter", Help: "Access tokens refused, by the first check they failed (dataplane/jwt's Status names: bad_type for an OIDC ID token, bad_signature, expired, ...); the requests were answered 401.", Samples: m.appendTokenRefused},
		Gauge("portcullis_public_in_flight", "Requests of public routes (no credential) in flight, each holding at most one upstream connection.", func() float64 {
			return float64(s.public.Load())
		}),
		Gauge("portcullis_public_max_in_flight", "Cap of requests of public routes in flight (public_routes.max_in_flight, else a quarter of --upstream-max-conns); 0 before the first policy.", func() float64 {
			if p := s.prepared.Load(); p != nil {
				return float64(p.publicMax)
			}
			return 0
		}),
		Gauge("portcullis_tenant_max_in_flight", "Cap of one tenant's requests in flight, in every class (--tenant-max-in-flight, else half of --upstream-max-conns).", func() float64 {
			return float64(s.cfg.TenantMaxInFlight)
		}),
		Gauge("portcullis_concurrency_queued", "Requests waiting in the queues of classes with a concurrency cap (concurrency.queue) for an in-flight slot, all tenants together.", func() float64 {
			return float64(s.inflight.Queued())
		}),
		Counter("portcullis_key_cache_hits_total", "API key verifications answered from the cache.", func() uint64 {
			hits, _ := s.keys.Stats()
			return hits + m.frontHits()
		}),
		Counter("portcullis_key_cache_misses_total", "API key verifications that computed the digest.", func() uint64 {
			_, misses := s.keys.Stats()
			return misses
		}),
		Counter("portcullis_audit_dropped_total", "Audit records the sink could not capture (all of them when there is no audit destination).", m.auditDropped.Load),
		Counter("portcullis_upstream_saturated_total", "Requests answered 503 upstream_saturated: every upstream connection (--upstream-max-conns) stayed busy for the whole wait (the upstream timeout).", m.saturated.Load),
		Counter("portcullis_panics_total", "Panics recovered on the request path or the admin listener (each answered with 500), and in the callbacks outside it (the header hook, expect, errorHandler, the TLS handshake and its CRL audit, a response stream, the listener's log, fasthttp's log, the TLS files' reload, a log line outside them whose writer panicked: a policy swap's, a JWKS fetch's, Serve's, Drain's).", m.panics.Load),
		Counter("portcullis_policy_compile_failures_total", "Policies refused because they did not compile; the policy in force stays.", func() uint64 {
			return uint64(max(s.store.Failures(), 0))
		}),
		s.policyGauge("portcullis_policy_revision", "Revision of the policy snapshot in force (etcd mode: its etcd revision, labelled with the etcd prefix; file mode: loads so far).", func() float64 {
			if snap := s.store.Load(); snap != nil {
				return float64(snap.Revision)
			}
			return 0
		}),
		s.policyGauge("portcullis_policy_digest", "First 48 bits of the SHA-256 digest of the state in force (policy document, key records, revocations, suspensions), as a number: sidecars enforcing the same state show the same value whatever their revision (0 before the first; etcd mode: labelled with the etcd prefix).", func() float64 {
			if snap := s.store.Load(); snap != nil {
				return float64(binary.BigEndian.Uint64(snap.Digest[:8]) >> 16)
			}
			return 0
		}),
		Gauge("portcullis_policy_last_reload_timestamp_seconds", "Unix time the policy snapshot in force was installed (0 before the first).", func() float64 {
			if t := s.store.LoadedAt(); !t.IsZero() {
				return float64(t.UnixNano()) / 1e9
			}
			return 0
		}),
		// The listener's (conn.go): what its caps and accept errors did
		// was a log line a second at most, and nothing on this page.
		Gauge("portcullis_connections_open", "Client connections open on the listener (at most --max-conns).", func() float64 {
			return float64(s.listenerCount(func(l *listener) uint64 { return uint64(max(l.open.Load(), 0)) }))
		}),
		Counter("portcullis_connections_refused_total", "Client connections closed at accept: over --max-conns or --max-conns-per-ip.", func() uint64 {
			return s.listenerCount(func(l *listener) uint64 { return l.refused.Load() })
		}),
		Counter("portcullis_accept_errors_total", "Accept errors on the listener (too many open files, ...), each waited out and retried; the connections being served go on.", func() uint64 {
			return s.listenerCount(func(l *listener) uint64 { return l.acceptErrs.Load() })
		}),
		Gauge("portcullis_ready", "1 while the data plane is ready (a policy loaded, not draining), else 0; /readyz adds the other checks.", func() float64 {
			if s.Ready() {
				return 1
			}
			return 0
		}),
	}, append(s.keyAgeFamilies(), s.certs.families()...)...) // keyage.go, tls.go
}

// policyGauge is a gauge of the policy in force, labelled etcd_prefix in
// etcd mode (Config.EtcdPrefix).
func (s *Server) policyGauge(name, help string, v func() float64) Family {
	if s.cfg.EtcdPrefix == "" {
		return Gauge(name, help, v)
	}
	series := string(appendLabelValue([]byte(name+`{etcd_prefix="`), s.cfg.EtcdPrefix)) + `"}`
	return Family{Name: name, Type: "gauge", Help: help, Samples: func(b []byte) []byte {
		return appendFloatSample(b, series, v())
	}}
}

// listenerCount returns f of the listener Serve runs, or 0 before Serve.
func (s *Server) listenerCount(f func(*listener) uint64) uint64 {
	if l := s.ln.Load(); l != nil {
		return f(l)
	}
	return 0
}

// classNames returns the class label of each metrics slot.
func (m *metrics) classNames() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string{"none"}, m.slots...)
}

// appendRequests appends portcullis_requests_total, one sample per class
// and decision that has seen a request.
func (m *metrics) appendRequests(b []byte) []byte {
	names := m.classNames()
	for slot := range m.requests {
		for d := range m.requests[slot] {
			var n uint64
			for hit := range m.requests[slot][d] {
				for i := range m.requests[slot][d][hit] {
					n += m.requests[slot][d][hit][i].Load()
				}
			}
			if n == 0 || slot >= len(names) {
				continue
			}
			b = append(b, `portcullis_requests_total{class="`...)
			b = appendLabelValue(b, names[slot])
			b = append(b, `",decision="`...)
			b = append(b, audit.Decision(d).String()...)
			b = append(b, `"} `...)
			b = strconv.AppendUint(b, n, 10)
			b = append(b, '\n')
		}
	}
	return b
}

// frontHits sums the requests whose API key was verified from the front.
func (m *metrics) frontHits() uint64 {
	var n uint64
	for slot := range m.requests {
		for d := range m.requests[slot] {
			for i := range m.requests[slot][d][1] {
				n += m.requests[slot][d][1][i].Load()
			}
		}
	}
	return n
}

func (m *metrics) appendLimited(b []byte) []byte {
	for i, sc := range limiterScopes {
		b = appendSample(b, `portcullis_limiter_denials_total{scope="`+sc+`"}`, m.limited[i].Load())
	}
	return b
}

func (m *metrics) appendTokenRefused(b []byte) []byte {
	for st := jwt.Status(1); int(st) < jwt.NumStatus; st++ {
		b = appendSample(b, `portcullis_jwt_refused_total{status="`+st.String()+`"}`, m.tokenRefused[st].Load())
	}
	return b
}

// appendLatency appends the latency histogram, summed over every cell.
func (m *metrics) appendLatency(b []byte) []byte {
	var latency [numLatency]uint64
	for slot := range m.requests {
		for d := range m.requests[slot] {
			for hit := range m.requests[slot][d] {
				for i := range latency {
					latency[i] += m.requests[slot][d][hit][i].Load()
				}
			}
		}
	}
	var cum uint64
	for i := range latency {
		cum += latency[i]
		le := "+Inf"
		if i < len(latencyBuckets) {
			le = strconv.FormatFloat(latencyBuckets[i], 'g', -1, 64)
		}
		b = appendSample(b, `portcullis_request_duration_seconds_bucket{le="`+le+`"}`, cum)
	}
	b = appendFloatSample(b, "portcullis_request_duration_seconds_sum", float64(m.latencySumNs.Load())/1e9)
	return appendSample(b, "portcullis_request_duration_seconds_count", cum)
}

// appendLabelValue appends v escaped as the text format requires inside
// a quoted label value.
func appendLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\', '"':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}
