package audit

import (
	"net/netip"

	"github.com/portcullis/portcullis/limiter"
)

// Aggregation of denials without a verified credential (issue 21 item
// 10): a flood of 401s from the internet (80k requests/s filled a 256 MiB
// spool in seconds) must not push out the records of real callers. While
// the spool is above half full, the emitter keeps one record per source
// address (an IPv6 one by its /64, aggSource), route, reason and second,
// the first of them, with Count set to how many there were: exact, not
// sampled.
//
// What decides is whether the sidecar established who called, not
// whether a credential header was sent: a flood can carry any X-API-Key
// or Bearer value (the data plane records the method, and the key id of a
// well-formed key, before verifying either), so a denial with no client
// and no verified token is folded whatever it presented. A record with a
// client (a verified key or token) is folded only when it is the
// client's own limit refusal (ClientFolds: rate_limited,
// concurrency_limited, answered 429), below. A folded record keeps
// the key id and auth method only when every request it counts presented
// the same ones: the ids of unverified keys are the caller's choice; its
// path and method are "*" unless every request had the same, and its bytes
// are the sum of theirs.
//
// A verified client's limit refusals fold too, one record per client,
// tenant, key id (or token issuer and fingerprint), auth method, route,
// decision, limit and second: one holder of a valid key flooding past
// its own limit while the collector was down wrote a full record per
// 429, filled the spool, and every other tenant's records were dropped
// (in strict mode, refused 503): a noisy neighbour on the audit path
// (TestClientRateLimitFloodFolded). Such a group keeps what its records
// must say: who (client, tenant, key id or token, auth method), which
// limit, and how many (Count); its source is the caller's /64 when all
// came from one, else none. The collector believes a count on a record
// naming a client only when ClientFolds holds for it, and on any folded
// record up to MaxFoldCount (collector.MaxRequestsPerRecord).

// aggGraceSeconds is how long a second stays open for late records (a
// record is captured when its response is written, up to its duration
// after its time).
const aggGraceSeconds = 2

// MaxFoldCount is the most requests one folded record counts: a group
// that reaches it is closed, and the next request of its key opens
// another. A group holds one second of one sidecar (keyOf), and nothing in
// the data plane bounds how many requests that is: a refusal holds no
// in-flight slot (the caps bound requests admitted, not refused), and
// pipelined on kept-alive connections its rate is bounded only by the
// sidecar's CPU. So the bound is the emitter's own, and the collector
// believes no more on any folded record, a larger count (a sidecar's
// before this bound) held at it (collector.MaxRequestsPerRecord). At 65,536 a flood of a million
// refusals a second of one group writes 16 records a second, a few KiB of
// spool (TestFoldedGroupClosesAtMaxFoldCount).
const MaxFoldCount = 1 << 16

// maxAggKeys bounds the open groups; past it records pass unfolded.
const maxAggKeys = 4096

type aggKey struct {
	src      netip.Addr // zero for a client's group
	route    string
	decision Decision
	sec      int64

	// A verified client's group (ClientFolds) is keyed by who was
	// refused and by which limit; all zero for the groups of unverified denials.
	tenant, client, issuer string
	fingerprint            [16]byte
	auth                   AuthMethod
	limit                  Limit
	keyIDLen               uint8
	keyID                  [MaxKeyID]byte
}

// keyOf is the group r is counted in.
func keyOf(r *Record) aggKey {
	k := aggKey{route: r.Route, decision: r.Decision, sec: floorSecond(r.Time)}
	if r.Client == "" {
		k.src = aggSource(r.SourceIP)
		return k
	}
	k.tenant, k.client, k.issuer, k.fingerprint = r.Tenant, r.Client, r.Issuer, r.TokenFingerprint
	k.auth, k.limit, k.keyIDLen, k.keyID = r.AuthMethod, r.Limit, r.keyIDLen, r.keyID
	return k
}

// aggregator folds records by aggKey; the batcher goroutine owns it.
type aggregator struct {
	idx  map[aggKey]int
	recs []Record
}

// foldable reports whether r is a denial without a verified credential
// (no client, tenant or verified token: Issuer and TokenFingerprint are
// set only once a token's signature verified), or a verified client's own
// limit refusal.
func foldable(r *Record) bool {
	if r.Count > 1 || r.Decision == Allowed {
		return false
	}
	if r.Client != "" {
		return ClientFolds(r.Tenant, r.Decision, r.Limit, int64(r.Status))
	}
	return r.Tenant == "" && r.TokenFingerprint == [16]byte{} && r.Issuer == ""
}

// ClientFolds reports whether a record naming a verified client, of
// tenant, with decision d, limit l and HTTP status, is one the emitter
// folds while aggregating: the client's refusal by one of its own limits
// as the data plane writes it, a token bucket's RateLimited or an
// in-flight cap's ConcurrencyLimited naming that limit (Limit.Refuses),
// answered 429 and naming the client's tenant. The
// collector believes the count of a record naming a client only when it
// holds (collector.StoredRecord.Requests): one rule, so that the sidecar
// never folds what the collector counts as one request. Before, the
// emitter folded such a refusal whatever its status (a connection cut
// before its 429 left is recorded with status 0, dataplane/record.go),
// and the collector took each folded record for one request
// (TestClientFoldAgreesWithCollector); and the collector believed a
// million refusals on a rate_limited record naming an in-flight cap, or a
// limit no sidecar writes (collector TestClientCountOnlyWithItsLimit).
func ClientFolds(tenant string, d Decision, l Limit, status int64) bool {
	return tenant != "" && status == 429 && l.Refuses(d)
}

// aggregating reports whether denials are folded now: the spool, with the
// batches on their way to it, is above half full. While the collector is
// down, the batches in the sender's queue and retry land in the spool
// after it crossed half (five batches of records no fold could reach,
// TestAttackSpoolFloodWithBogusCredentials).
func (e *Emitter) aggregating() bool {
	return e.sp.aboveHalf(e.unsent.Load())
}

// What add did with a record.
const (
	notFolded = iota // not foldable, or no room: the caller sends it
	opened           // it opened a group
	folded           // it was counted in an open group
)

// add folds r into its group (copying it when it opens one). A group
// holding MaxFoldCount requests is closed: it stays in recs until its
// second is flushed, and r opens its key's next group, which idx names
// from then on (flush keeps the newest: it names them in order).
func (a *aggregator) add(r *Record) int {
	if !foldable(r) {
		return notFolded
	}
	k := keyOf(r)
	if i, ok := a.idx[k]; ok && a.recs[i].Count < MaxFoldCount {
		a.recs[i].Count++
		forgetUnshared(&a.recs[i], r)
		return folded
	}
	if len(a.recs) >= maxAggKeys {
		return notFolded
	}
	if a.idx == nil {
		a.idx = make(map[aggKey]int)
	}
	a.idx[k] = len(a.recs)
	a.recs = append(a.recs, Record{})
	r.CopyTo(&a.recs[len(a.recs)-1])
	a.recs[len(a.recs)-1].Count = 1
	return opened
}

// forgetUnshared makes group g name only what all its requests share,
// now that r is counted in it: the source becomes its /64 (its first
// address) when r came from another address of it, the key id and auth method are cleared
// (AuthNone) when r presented others, the path and method become "*" and
// the user agent is cleared when r's differ, and r's bytes are added to
// the group's. A client's group, keyed by its client, not its source,
// names no source when r came from another /64 than the group's. Before,
// a group carried its first request's path and method: a GET of /index.html followed by DELETEs of an admin path in
// the same second was stored as GETs of /index.html.
func forgetUnshared(g, r *Record) {
	if g.SourceIP != r.SourceIP {
		if g.SourceIP.IsValid() && aggSource(g.SourceIP) == aggSource(r.SourceIP) {
			g.SourceIP = aggSource(r.SourceIP)
		} else {
			g.SourceIP = netip.Addr{}
		}
	}
	if g.AuthMethod != r.AuthMethod {
		g.AuthMethod = AuthNone
		g.keyIDLen = 0
	}
	if string(g.KeyID()) != string(r.KeyID()) {
		g.keyIDLen = 0
	}
	if string(g.Path()) != string(r.Path()) {
		g.SetPath(several)
	}
	if string(g.Method()) != string(r.Method()) {
		g.SetMethod(several)
	}
	if string(g.UserAgent()) != string(r.UserAgent()) {
		g.uaLen = 0
	}
	if string(g.CertSerial()) != string(r.CertSerial()) || g.CertIssuer != r.CertIssuer {
		g.serialLen, g.CertIssuer = 0, [32]byte{}
	}
	g.BytesIn += r.BytesIn
	g.BytesOut += r.BytesOut
}

// several is the path and method of a group whose requests had different
// ones.
var several = []byte{'*'}

// flush hands every group of a second before sec to emit, oldest kept
// order, and forgets them.
func (a *aggregator) flush(sec int64, emit func(*Record)) {
	kept := a.recs[:0]
	for i := range a.recs {
		if floorSecond(a.recs[i].Time) < sec {
			emit(&a.recs[i])
			continue
		}
		kept = append(kept, a.recs[i])
	}
	if len(kept) == len(a.recs) {
		return
	}
	clear(a.recs[len(kept):])
	a.recs = kept
	clear(a.idx)
	for i := range a.recs {
		r := &a.recs[i]
		a.idx[keyOf(r)] = i
	}
}

// aggSource is the source a group is keyed by: an IPv4 address itself,
// an IPv6 address by its /64, limiter.PeerKey, by which the data plane
// counts a source's connections and its budget of token failures. One
// host holds a whole /64 and may send each request from another address
// of it: keyed by the address, such a flood opened a group per request,
// past maxAggKeys passed unfolded, and filled the spool as if nothing
// were folded, so the real callers' records were dropped, or, in strict
// mode, every request refused 503 (TestSpoolFloodAggregated, "one /64").
// The same function, not a copy: a change to how a source is counted
// changes what folds with it.
func aggSource(a netip.Addr) netip.Addr { return limiter.PeerKey(a) }

func floorSecond(ns int64) int64 {
	s := ns / 1e9
	if ns < 0 && ns%1e9 != 0 {
		s--
	}
	return s
}
