package alert

import (
	"net/netip"
	"strings"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// requests is how many requests r stands for: its count when the sidecar
// aggregated it (denials without a verified credential while its spool is
// above half full, audit/emitter_aggregate.go), else one, at most
// collector.MaxRequestsPerRecord so that a sender's absurd count cannot
// overflow a window's sum (a sum gone negative would hide every later
// record of its group). A flood the sidecar folds into one record a
// second is counted request by request.
func requests(r *collector.StoredRecord) int64 { return r.Requests() }

// egress is the bytes r's requests sent out: the sidecar sums the bytes of
// the requests it folds into one record (audit/emitter_aggregate.go), so
// a folded record's BytesOut is already all of them.
func egress(r *collector.StoredRecord) int64 { return r.BytesOut }

// recordLocked runs every rule over one stored record.
func (e *Engine) recordLocked(r *collector.StoredRecord, out []collector.Event) []collector.Event {
	for _, rule := range e.rules {
		switch rule.Kind {
		case KindAuthFailures:
			if r.Decision == "unauthenticated" || r.Decision == "key_revoked" || r.Decision == "cert_revoked" ||
				r.Decision == "token_failures_limited" { // tokens refused unverified past their source's budget of failures
				out = e.countLocked(rule, r, requests(r), out)
			}
		case KindRateLimitSpike:
			if r.Status == 429 {
				out = e.countLocked(rule, r, requests(r), out)
			}
		case KindBulkSpike:
			if e.idx.bulk[route{r.Method, r.Route}] {
				out = e.countLocked(rule, r, requests(r), out)
			}
		case KindEgressSpike:
			if r.BytesOut > 0 {
				out = e.countLocked(rule, r, egress(r), out)
			}
		case KindDeadCredential:
			if e.deadLocked(r) {
				out = e.countLocked(rule, r, requests(r), out)
			}
		case KindNewNetwork:
			out = e.networkLocked(rule, r, out)
		case KindTenantProbe:
			if r.Decision == "tenant_mismatch" { // a route's {tenant} naming another tenant (dataplane/authorize.go)
				out = e.countLocked(rule, r, requests(r), out)
			}
		}
	}
	return out
}

// verified reports whether the sidecar verified the credential of the
// client a record names: it names the client only then, and a key_revoked
// record's key id is a revoked key whose secret matched. A refusal that
// names no client is about a key id its sender wrote, and a key id is no
// secret (services get it in X-Portcullis-Key-Id; it is the front of the
// key): counted toward a suspension or a revocation, twenty wrong secrets
// under a known key id suspended its client, or revoked its key, for
// whoever sent them (TestContainmentNeedsVerifiedClient).
func verified(r *collector.StoredRecord) bool {
	return r.Client != "" || r.Decision == "key_revoked"
}

// subjectLocked returns who a record is about (index.subject), knowing
// the key ids lifecycle events created since the policy.
func (e *Engine) subjectLocked(r *collector.StoredRecord) subject {
	return e.idx.subject(r, e.keyClient)
}

// subject returns who a record is about: the client it names or, for a
// refused key, the client the key id belongs to (keyOwner), and its
// tenant. It is the one rule of who a record is about, for detection and
// incident assess alike: assess had its own copy of the tenant part,
// without the bound sender's, and counted a refusal of no tenant from a
// sender bound to acme naming globex-bi's key id as 50,000 guesses at it
// (TestAssessBoundSenderUntenantedKeyCountNotBelieved).
func (x *index) subject(r *collector.StoredRecord, learned map[string]string) subject {
	s := subject{tenant: r.Tenant, client: r.Client, keyID: r.KeyID, sender: r.Sender}
	if s.client == "" {
		s.client = x.keyOwner(s.keyID, learned)
	}
	if s.tenant == "" {
		s.tenant = x.clientTenant[s.client]
	}
	// A record's fields are its sender's claim, and a sender bound to a
	// tenant (collector binding.go) is held to that tenant only: a record
	// of its tenant naming another tenant's client, or a client with
	// another client's key, names no client or key to act on, so that
	// forged records cannot suspend or revoke across tenants
	// (TestForeignClientNotContained), nor count as the client's in an
	// assessment (TestAssessForeignClientCountNotBelieved).
	if owner := x.keyOwner(s.keyID, learned); owner != "" && s.client != "" && owner != s.client {
		s.keyID = ""
	}
	if t := x.clientTenant[s.client]; t != "" && t != s.tenant {
		s.client, s.keyID = "", ""
	}
	// A record of no tenant passes its sender's binding (a denial before
	// a credential was established), and its tenant was taken above from
	// its key or client: from a bound sender, only one of its own tenants
	// (TestBoundSenderUntenantedRecordNotContained).
	if r.Tenant == "" && s.tenant != "" && !r.BoundTo(s.tenant) {
		s.tenant, s.client, s.keyID = "", "", ""
	}
	return s
}

// keyOwner is the client key id belongs to in the policy, else in
// learned (nil: none), "" when not known.
func (x *index) keyOwner(keyID string, learned map[string]string) string {
	if keyID == "" {
		return ""
	}
	if c := x.keyClient[keyID]; c != "" {
		return c
	}
	return learned[keyID]
}

// groupValue is the value of the rule's group for a record; "" when the
// record has none (a guessed key names no client).
func (e *Engine) groupValue(rule *Rule, r *collector.StoredRecord, s subject) string {
	switch rule.Group {
	case "client":
		return s.client
	case "source":
		return e.sourceLocked(r.SourceIP)
	case "tenant":
		return s.tenant
	}
	return ""
}

// sourceLocked is the source group of an address: an IPv4 address itself
// (a NAT'd office is many people), an IPv6 address's /64, which one host
// is given whole: grouped per address, a guesser taking a new address of
// its /64 for every request would never reach a threshold, and would be
// an alert (and a ticket) per address if it did. The engine remembers the
// last one: consecutive records of one address cost no parse.
func (e *Engine) sourceLocked(ip string) string {
	if strings.IndexByte(ip, ':') < 0 {
		return ip // IPv4, or nothing
	}
	if ip == e.lastSrc {
		return e.lastSrcGroup
	}
	g := ip
	if a, err := netip.ParseAddr(ip); err == nil {
		if a = a.Unmap(); a.Is4() {
			g = a.String()
		} else {
			p, _ := a.Prefix(64)
			g = p.String()
		}
	}
	e.lastSrc, e.lastSrcGroup = ip, g
	return g
}

// countLocked adds v at the record's time to its group's window and fires
// when the window is over the rule's floor and baseline.
func (e *Engine) countLocked(rule *Rule, r *collector.StoredRecord, v int64, out []collector.Event) []collector.Event {
	if rule.contains() && !verified(r) {
		return out
	}
	s := e.subjectLocked(r)
	key := e.groupValue(rule, r, s)
	if key == "" {
		return out
	}
	g := e.groupLocked(rule, key)
	if g == nil {
		return out // a key no one can be alerted about (loose.go)
	}
	g.w.add(r.Time, v)
	if r.Time.After(g.last) {
		g.last = r.Time
	}
	if r.RequestID != "" {
		g.addID(r.RequestID)
	}
	g.noteSender(r.Sender, r.Time)
	g.bound += v
	if g.open != nil {
		g.open.addSender(r.Sender)
		return e.growLocked(g.open, rule, v, r.Time, g, out)
	}
	if !g.boundAt.IsZero() && !r.Time.Before(g.boundAt) && g.bound < rule.Threshold {
		return out // the window's sum is at most bound, under the floor: not summed (BenchmarkObserve)
	}
	cur := g.w.sum(r.Time, rule.Window)
	if g.w.newest(r.Time) {
		// Every bucket that holds anything is summed or older than any
		// later window reaches: cur bounds what follows.
		g.bound, g.boundAt = cur, r.Time
	}
	if cur < rule.Threshold {
		return out // under the floor: the baseline is not needed (BenchmarkObserve)
	}
	if base := g.w.sum(r.Time.Add(-rule.Window), rule.Baseline); !rule.spiking(cur, base) {
		return out
	}
	return e.fireLocked(rule, key, s, r.Time, cur, g, out)
}

// groupLocked returns the group of rule's key, made when there is none;
// nil for a client or tenant the policy does not name, and for a source
// once the sources' budget is spent (loose.go, TestMadeUpClientsBounded).
// The rule remembers the last one: consecutive records of one client or
// tenant cost no map lookup (BenchmarkObserve).
func (e *Engine) groupLocked(rule *Rule, key string) *group {
	if rule.lastGroup != nil && rule.lastKey == key {
		return rule.lastGroup
	}
	k := groupKey{rule.Name, key}
	g := e.groups[k]
	if g == nil {
		g = &group{w: newWindow(rule.Window/windowBuckets, rule.span())}
		id, open := e.open[k]
		if !open && !e.admitGroupLocked(rule, key, g) {
			return nil
		}
		if open {
			g.open = e.alerts[id]
		}
		e.groups[k] = g
	}
	rule.lastKey, rule.lastGroup = key, g
	return g
}

// deadLocked reports whether r is a revoked, expired or suspended
// credential being tried: refused as such by the sidecar, or a failure
// naming a key id the engine knows revoked or expired (a wrong secret
// under it is a guess at a dead key, still worth an alert).
func (e *Engine) deadLocked(r *collector.StoredRecord) bool {
	switch r.Decision {
	case "suspended", "key_revoked", "key_expired_by_policy", "cert_revoked": // key_expired_by_policy: past lifecycle.max_key_age; cert_revoked: a client certificate a CRL lists
		return true
	}
	if r.Decision != "unauthenticated" || r.KeyID == "" {
		return false
	}
	if e.revoked[r.KeyID] || e.idx.keyRevoked[r.KeyID] {
		return true
	}
	na, ok := e.keyEnd[r.KeyID] // keys create, keys rotate: later than the document
	if !ok {
		na, ok = e.idx.keyNotAfter[r.KeyID]
	}
	return ok && !r.Time.Before(na)
}

// clientNetsLocked returns the networks client was seen from, made when
// there are none. The engine remembers the last client's: consecutive
// records of one client cost no lookup (BenchmarkObserve).
func (e *Engine) clientNetsLocked(client string) map[netip.Prefix]time.Time {
	if e.lastNets != nil && e.lastClient == client {
		return e.lastNets
	}
	nets := e.networks[client]
	if nets == nil {
		nets = map[netip.Prefix]time.Time{}
		e.networks[client] = nets
	}
	e.lastClient, e.lastNets = client, nets
	return nets
}

// maxClientNetworks bounds the networks kept per client: past it the one
// seen longest ago is forgotten (and alerts again if it comes back).
const maxClientNetworks = 1024

// evictOldest forgets the network of nets seen longest ago.
func evictOldest(nets map[netip.Prefix]time.Time) {
	var oldest netip.Prefix
	var at time.Time
	for p, t := range nets {
		if at.IsZero() || t.Before(at) {
			oldest, at = p, t
		}
	}
	delete(nets, oldest)
}

// networkResolution is how fresh a network's last-seen time is kept.
const networkResolution = time.Minute

// networkOf is the network of a source address: its /24 or /64.
func networkOf(ip string) (netip.Prefix, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p, true
}

// networkLocked fires when an authenticated client is seen from a network
// it has not used within the rule's lookback. The first network of a
// client is learnt, not alerted.
func (e *Engine) networkLocked(rule *Rule, r *collector.StoredRecord, out []collector.Event) []collector.Event {
	if r.Client == "" || r.Decision == "unauthenticated" || e.idx.clientTenant[r.Client] == "" {
		return out // no client, or one the policy does not name (loose.go)
	}
	n, ok := networkOf(r.SourceIP)
	if !ok {
		return out
	}
	nets := e.clientNetsLocked(r.Client)
	last, seen := nets[n]
	known := len(nets) > 0
	if !seen && len(nets) >= maxClientNetworks {
		evictOldest(nets) // a key used from a new /64 each request: bounded memory
	}
	if !seen || r.Time.Sub(last) >= networkResolution {
		// A map write per record would cost more than the rest of the
		// rule (BenchmarkObserve); a lookback of days does not need
		// last-seen times finer than this.
		nets[n] = r.Time
	}
	if !known || seen && r.Time.Sub(last) <= rule.Lookback {
		return out
	}
	g := &group{lastUpdate: r.Time}
	g.addID(r.RequestID)
	if a := e.openNetLocked(rule.Name, r.Client); a != nil {
		// One alert per client while it is open, its count growing: a
		// key used from every /64 of a /48 is not 65536 tickets.
		a.addSender(r.Sender)
		return e.growLocked(a, rule, 1, r.Time, g, out)
	}
	return e.fireLocked(rule, r.Client+" "+n.String(), e.subjectLocked(r), r.Time, 1, g, out)
}

// openNetLocked returns the open new_network alert of rule for client, or
// nil. It is indexed in e.open under (rule, client): a new_network alert's
// own key is "client network".
func (e *Engine) openNetLocked(rule, client string) *Alert {
	a := e.alerts[e.open[groupKey{rule, client}]]
	if a == nil || a.Status == StatusClosed {
		return nil
	}
	return a
}
