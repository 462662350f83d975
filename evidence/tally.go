package evidence

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/credential"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// tally is what one pass over the period's records gathers for every
// file, so that a pack over millions of records holds its counts, never
// the records (BenchmarkPack: 10 million records).
type tally struct {
	records int
	// outsideWindow counts the period's records the collector stored
	// flagged time_outside_window (dated further than its
	// --record-window from their receipt), late those of them received
	// after the period ended: a sender's clock, a spool replayed late,
	// or a sender writing into a period after the fact.
	outsideWindow, late int

	// Scope and role matrix: allowed requests by client and by
	// client+scope, and each client's last use.
	client map[string]int64
	scope  map[[2]string]int64
	last   map[string]time.Time

	// Privileged access: allowed requests to privileged routes by client,
	// with the last one.
	priv map[string]*privUse

	// Throttling: 401/403/413/429 counts by day, tenant, status and the
	// limit that refused a 429, and the first sampleSize 429s.
	denials map[denialKey]int64
	sample  []collector.StoredRecord

	// Tenants' shares and the charts.
	tenant map[string]int64 // requests by tenant
	// unbound is tenant's part from senders bound to no tenant: there
	// the tenant is the sender's claim alone (collector binding.go).
	unbound      map[string]int64
	tenantDenied map[string]int64 // 401/403/429 and refusals before HTTP by tenant
	total        int64
	daily        map[int64]*[5]int64 // day -> allowed, 401, 403, 429, refused before HTTP (TLS handshake)

	// Credential scan, and the texts of the record before with the
	// patterns' literals they hold (literalsIn).
	scanHits  int
	scanLines bytes.Buffer
	lastText  [nRecordTexts]string
	lastHeld  [nRecordTexts]uint
	// The period's lifecycle events scanned, and those matching.
	eventsScanned, eventHits int
	eventLines               bytes.Buffer

	// Revocations: the events by the key or client they name, and the
	// first denial after each, overall and by sidecar.
	revokes  map[string][]int
	revokeAt []revokeAt // in storage order
	first    map[int]time.Time
	firstBy  map[int]map[sidecar]time.Time
	podsOf   map[int]map[string]int // places in firstBy[i], by sender

	routeScopes map[[2]string][]string
	privRoutes  map[[2]string]bool

	// Approvals: requests naming each approval id, allowed and refused
	// (approval_required), for the approval samples (approvalids.go).
	approvals map[string]*[2]int64
	// madeUpApprovals counts the ids in approvals that no approval event
	// read before named when they were first counted.
	madeUpApprovals int
	// approvalsOver counts the requests, allowed and refused, naming an
	// approval id that no approval event names, first seen past the
	// first maxApprovalIDs such ids.
	approvalsOver [2]int64
	// overSegs are the segments holding requests counted in
	// approvalsOver: as many as the store has, whatever the senders
	// write.
	overSegs map[uint64]bool
	// knownApprovals are the ids the trail's approval events name, read
	// so far; lateApprovals those of them first named after requests
	// naming them may have been counted in approvalsOver, with the entry
	// of that first event.
	knownApprovals map[string]bool
	lateApprovals  map[string]entryPos

	// keysUsed are the key ids of the period's requests a key matched,
	// the first maxKeysUsed of them (noteKey, keyorigin.go);
	// keysUsedOver counts the records naming others past it.
	keysUsed     map[string]bool
	keysUsedOver int64
	// lastAllowed is, by key id, the latest request the key
	// authenticated that a sidecar allowed, and by which: one after the
	// key's revocation shows a sidecar that did not enforce it
	// (revokedAllowed). Bounded as keysUsed, the ids being the sender's
	// to write; lastAllowedOver counts the records past it.
	lastAllowed     map[string]keyUse
	lastAllowedOver int64

	// The names some policy in force during the period holds; the
	// others are counted under notInPolicy (tenantOf, clientOf).
	tenants, clients map[string]bool
	period           Period
}

// notInPolicy is the name the tallies count a tenant or integration under
// when no policy in force during the period names it: a record's names
// are its sender's claim, and a sender bound to no tenant that wrote a
// new one in every record grew the tallies by one entry a record
// (TestPackBoundsMadeUpNames). The pack's files show it as a tenant or
// integration of that name, which no policy can hold (TenantIDRule).
const notInPolicy = "(not in policy)"

// maxPods bounds the pods a revocation's first denials are kept for, by
// pod and sender: the pod is the batch's claim, and the first denials of
// the pods past it are kept together under morePods, by sender.
const maxPods = 1000

// morePods is the pod name the first denials of the pods past the first
// maxPods are kept under.
const morePods = "(pods past the first 1000)"

// maxPodsPerSender bounds the places among the maxPods one sender's pods
// take: a stolen credential naming a new pod in each of maxPods batches
// took every one, and a real pod's first denial was kept with the pods
// past them, its cell showing the thief's earliest
// (TestRevocationPodsBoundPerSender). A sender's pods past it are kept
// together under morePodsOfSender, which names the sender cut.
const maxPodsPerSender = maxPods / 10

// morePodsOfSender is the pod name the first denials of a sender's pods
// past its first maxPodsPerSender are kept under.
const morePodsOfSender = "(pods past the sender's first 100)"

// tenantOf is r's tenant as the tallies count it: notInPolicy for a
// tenant no policy of the period names.
func (t *tally) tenantOf(r *collector.StoredRecord) string {
	if t.tenants[r.Tenant] {
		return r.Tenant
	}
	return notInPolicy
}

// clientOf is r's integration as the tallies count it: notInPolicy for
// one no policy of the period names.
func (t *tally) clientOf(r *collector.StoredRecord) string {
	if t.clients[r.Client] {
		return r.Client
	}
	return notInPolicy
}

// knownNames returns the tenants and integrations that the policies in
// force during the period name, and "": a tenant or integration removed
// during the period is counted under its name.
func (b *builder) knownNames() (tenants, clients map[string]bool) {
	tenants, clients = map[string]bool{"": true}, map[string]bool{"": true}
	add := func(d *policy.Document) {
		for _, tn := range d.Tenants {
			tenants[tn.ID] = true
		}
		for _, c := range d.Clients {
			clients[c.ID], tenants[c.Tenant] = true, true
		}
		for _, is := range d.Issuers {
			for _, tn := range is.Tenants {
				tenants[tn] = true
			}
		}
	}
	add(b.doc)
	for _, s := range b.periodHistory() {
		if d, err := loadDoc(s.entry); err == nil {
			add(d)
		}
	}
	return tenants, clients
}

// privUse is one integration's privileged requests.
type privUse struct {
	n    int64
	last collector.StoredRecord
}

// denialKey is a day (days since 1970, UTC), a tenant, a status and, for
// a 429, the limit that refused it (limitName).
type denialKey struct {
	day    int64
	tenant string
	status int64
	limit  string
}

// maxScanLines bounds the records the credential scan lists; it counts
// every hit.
const maxScanLines = 1000

func newTally(b *builder) *tally {
	t := &tally{client: map[string]int64{}, scope: map[[2]string]int64{}, last: map[string]time.Time{},
		priv: map[string]*privUse{}, denials: map[denialKey]int64{}, tenant: map[string]int64{}, unbound: map[string]int64{}, tenantDenied: map[string]int64{},
		daily: map[int64]*[5]int64{}, revokes: map[string][]int{}, first: map[int]time.Time{}, firstBy: map[int]map[sidecar]time.Time{}, podsOf: map[int]map[string]int{},
		routeScopes: map[[2]string][]string{}, privRoutes: map[[2]string]bool{}, approvals: map[string]*[2]int64{},
		overSegs: map[uint64]bool{}, knownApprovals: map[string]bool{}, lateApprovals: map[string]entryPos{}, keysUsed: map[string]bool{}, lastAllowed: map[string]keyUse{}}
	t.tenants, t.clients = b.knownNames()
	t.period = b.cfg.Period
	for _, r := range b.doc.Routes {
		t.routeScopes[[2]string{r.Method, r.Path}] = r.Scopes
	}
	for k := range b.privilegedRoutes() {
		m, p, _ := strings.Cut(k, " ")
		t.privRoutes[[2]string{m, p}] = true
	}
	return t
}

// addEvent notes b.events[i], read in the pass at entry at: a revocation
// or suspension is what the denials after it are counted against; every
// event is scanned for credentials.
func (t *tally) addEvent(b *builder, i int, at entryPos) {
	t.scanEvent(&b.events[i])
	switch ev := &b.events[i]; ev.Action {
	case etcdadmin.ActionKeyRevoke, etcdadmin.ActionClientSuspend:
		t.revokes[ev.Target] = append(t.revokes[ev.Target], i)
		t.revokeAt = append(t.revokeAt, revokeAt{event: i, at: at})
	}
}

// requests returns how many requests r stands for
// (collector.StoredRecord.Requests: alert detection and tenants top count
// them the same).
func requests(r *collector.StoredRecord) int64 { return r.Requests() }

// revokeAt is a revocation or suspension, b.events[event], and the entry
// it was read from.
type revokeAt struct {
	event int
	at    entryPos
}

// add counts one record of the period.
func (t *tally) add(b *builder, r *collector.StoredRecord) {
	t.records++
	if slices.Contains(r.Flags, collector.FlagTimeOutsideWindow) {
		t.outsideWindow++
		if !r.Received.Before(t.period.To) {
			t.late++
		}
	}
	n, tenant, day := requests(r), t.tenantOf(r), t.dayOf(r)
	if !r.RefusedBeforeHTTP() {
		// A connection refused at the TLS handshake is no request of
		// any tenant: the shares count requests (the daily chart and
		// the daily_count rows count the refusals).
		t.tenant[tenant] += n
		if !r.SenderBound {
			t.unbound[tenant] += n
		}
		t.total += n
	}
	t.addDay(r, day, n)
	if r.Decision == "allowed" {
		t.addUse(r, n)
		t.noteAllowed(r)
	}
	switch {
	case r.RefusedBeforeHTTP():
		// A certificate refused at the handshake: no HTTP status, its
		// own daily_count row (status before_http) and a denial of its
		// tenant, if the record names one.
		t.denials[denialKey{day, tenant, 0, limitName(r)}] += n
		t.tenantDenied[dash(tenant)] += n
	case r.Status == 401 || r.Status == 403 || r.Status == 413 || r.Status == 429:
		t.denials[denialKey{day, tenant, r.Status, limitName(r)}] += n
		if r.Status != 413 {
			t.tenantDenied[dash(tenant)] += n
		}
		if r.Status == 429 && len(t.sample) < sampleSize {
			t.sample = append(t.sample, *r)
		}
	}
	if isDenial(r) {
		t.addDenials(b, r)
	}
	if r.ApprovalID != "" {
		t.addApproval(r, n)
	}
	t.noteKey(r) // keyorigin.go
	t.scan(r)
}

// limitName is the limit that refused r, as the sidecar names it (key,
// tenant, class, concurrency, tenant_in_flight: the last, the tenant's
// in-flight cap that every class's requests take, was "unknown" before,
// TestThrottlingSampleNamesLimit), "" when the record names none (any
// status but 429, or a sidecar from before the field), and "unknown" for
// a name no sidecar writes: the name is the sender's to write, and the
// counts keep one row per name.
func limitName(r *collector.StoredRecord) string {
	switch r.Limit {
	case "", "key", "tenant", "class", "concurrency", "tenant_in_flight":
		return r.Limit
	}
	return "unknown"
}

func dayOf(t time.Time) int64 {
	s := t.Unix()
	if s < 0 {
		return (s - 86399) / 86400
	}
	return s / 86400
}

func dayName(d int64) string { return time.Unix(d*86400, 0).UTC().Format(time.DateOnly) }

// dayOf returns the day r is counted on: the day of its time or, for a
// record dated after the period that the collector received in it
// (collector.Filter.Match), the day it was received. The time is the
// sender's claim: one dated a new day ahead in every record gave the
// daily counts a day a record (TestPackBoundsMadeUpNames).
func (t *tally) dayOf(r *collector.StoredRecord) int64 {
	if !t.period.Contains(r.Time) && !r.Received.IsZero() {
		return dayOf(r.Received)
	}
	return dayOf(r.Time)
}

func (t *tally) addDay(r *collector.StoredRecord, day, n int64) {
	d := t.daily[day]
	if d == nil {
		d = new([5]int64)
		t.daily[day] = d
	}
	switch {
	case r.Decision == "allowed":
		d[0] += n
	case r.Status == 401:
		d[1] += n
	case r.Status == 403:
		d[2] += n
	case r.Status == 429:
		d[3] += n
	case r.RefusedBeforeHTTP():
		d[4] += n
	}
}

// addUse counts an allowed request for the scope matrix and the
// privileged access file.
func (t *tally) addUse(r *collector.StoredRecord, n int64) {
	route, client := [2]string{r.Method, r.Route}, t.clientOf(r)
	if client != "" {
		t.client[client] += n
		// A use is counted no later than its receipt (CountedAt): a
		// sender's time ahead would be the integration's last use.
		if at := r.CountedAt(); at.After(t.last[client]) {
			t.last[client] = at
		}
		for _, s := range t.routeScopes[route] {
			t.scope[[2]string{client, s}] += n
		}
	}
	if !t.privRoutes[route] {
		return
	}
	u := t.priv[client]
	if u == nil {
		u = &privUse{}
		t.priv[client] = u
	}
	u.n += n
	if at := r.CountedAt(); u.n == n || at.After(u.last.Time) {
		u.last = *r
		u.last.Time = at
	}
}

// isDenial reports whether r is a denial that proves a revocation or
// suspension enforced (deniedAfter): an unauthenticated record proves
// nothing, whatever key id it names.
func isDenial(r *collector.StoredRecord) bool {
	return r.Decision == "key_revoked" || r.Decision == "suspended"
}

// addDenials records r as a denial of its key and of its client.
func (t *tally) addDenials(b *builder, r *collector.StoredRecord) {
	t.addDenial(b, r, r.KeyID)
	if r.Client != r.KeyID {
		t.addDenial(b, r, r.Client)
	}
}

// addDenial records r as a denial of target after each revocation or
// suspension of it that came before r.
func (t *tally) addDenial(b *builder, r *collector.StoredRecord, target string) {
	if target == "" {
		return
	}
	for _, i := range t.revokes[target] {
		if ev := &b.events[i]; deniedAfter(ev, r) {
			if f := t.first[i]; f.IsZero() || r.Time.Before(f) {
				t.first[i] = r.Time
			}
			by := t.firstBy[i]
			if by == nil {
				by = map[sidecar]time.Time{}
				t.firstBy[i] = by
			}
			s := sidecarOf(r)
			if _, ok := by[s]; !ok {
				n := t.podsOf[i]
				if n == nil {
					n = map[string]int{}
					t.podsOf[i] = n
				}
				switch {
				case n[s.sender] >= maxPodsPerSender:
					s.pod = morePodsOfSender
				case len(by) >= maxPods:
					s.pod = morePods
				}
				if _, ok := by[s]; !ok {
					n[s.sender]++
				}
			}
			if f := by[s]; f.IsZero() || r.Time.Before(f) {
				by[s] = r.Time
			}
		}
	}
}

// scan checks r's free text for credential shapes; a cheap test for the
// patterns' literals comes first, since almost every record holds none.
func (t *tally) scan(r *collector.StoredRecord) {
	held := t.literalsIn(r)
	for k, p := range credential.Patterns {
		if held&(1<<k) == 0 || !recordMatches(p.RE, r) {
			continue
		}
		t.scanHit(r, p.Name)
	}
	if held&encodedBit != 0 {
		t.scanHit(r, credential.EncodedName)
	}
}

// scanHit counts a credential of the kind name found in r, and lists the
// first maxScanLines.
func (t *tally) scanHit(r *collector.StoredRecord, name string) {
	t.scanHits++
	if t.scanHits <= maxScanLines {
		fmt.Fprintf(&t.scanLines, "| %s | %s | %s | %s |\n", r.Time.UTC().Format(time.RFC3339), mdCell(redact(r.RequestID)), mdCell(redact(r.Sender)), name)
	}
}

// scanEvent checks a lifecycle event of the period for credential shapes
// in every text it has (an operator may paste a leaked key into a
// revocation's --reason); a hit names the event, never the text.
func (t *tally) scanEvent(ev *collector.Event) {
	t.eventsScanned++
	before := t.eventHits
	texts := []string{ev.Key, ev.Unverified, ev.Actor, ev.Action, ev.Target, ev.Reason, ev.Ticket, string(ev.Details)}
	for _, p := range credential.Patterns {
		if matchAny(p.RE, texts) {
			t.eventHit(ev, p.Name)
		}
	}
	if slices.ContainsFunc(texts, credential.HidesEncoded) {
		t.eventHit(ev, credential.EncodedName)
	}
	if t.eventHits == before && slices.ContainsFunc([]string{ev.Actor, ev.Reason, ev.Ticket}, clearedByCLI) {
		t.eventHit(ev, proseSecretName)
	}
}

// proseSecretName names a hit of clearedByCLI in the scan's table.
const proseSecretName = "secret in prose or a credential's pair"

// clearedByCLI reports whether s holds what the CLI clears from an
// operator's free text before etcd (collector.RedactText): a pair whose
// name names a credential ("api_key=abc123"), a secret after such a name
// in prose ("password hunter2"), no credential's shape. An event a CLI
// from before those rules wrote, or another writer of etcd, keeps it in
// the trail, and the pack copied it into the token lifecycle log (it
// prints it cleared now: clearOperatorText); the
// scan by shapes said PASS (TestCredentialScanFindsASecretInAnEventsProse).
// Only an event's actor, reason and ticket: its details are the
// program's, whose names ("new_key") the pair rules would read as a
// credential's.
func clearedByCLI(s string) bool { return s != "" && collector.RedactText(s) != s }

// eventHit counts a credential of the kind name found in ev, and lists
// the first maxScanLines.
func (t *tally) eventHit(ev *collector.Event, name string) {
	t.eventHits++
	if t.eventHits <= maxScanLines {
		fmt.Fprintf(&t.eventLines, "| %s | %d | %s | %s | %s |\n", ev.Time.UTC().Format(time.RFC3339), ev.Revision,
			mdCell(redact(ev.Action)), mdCell(redact(ev.Target)), name)
	}
}

// literalsIn returns the credential patterns (bit k for pattern k) whose
// literal part some text of r holds. It reads each text once, looking
// for the literals only where one may start: the test it replaced, a
// substring search per pattern and text, took an eighth of the pack of
// 10 million records (BenchmarkPack). A text the same as the record
// before's (a user agent, a route) is not read again.
func (t *tally) literalsIn(r *collector.StoredRecord) uint {
	var held uint
	for i, s := range recordTexts(r) {
		if s != t.lastText[i] {
			t.lastText[i], t.lastHeld[i] = s, literalsInText(s)
		}
		held |= t.lastHeld[i]
	}
	for k, v := range r.Attributes {
		held |= literalsInText(k) | literalsInText(v)
	}
	for _, f := range r.Flags {
		held |= literalsInText(f)
	}
	return held
}

// encodedBit is the bit of literalsInText's result that says a text hides
// a credential under an encoding (credential.HidesEncoded).
var encodedBit uint = 1 << len(credential.Patterns)

// literalsInText returns the credential patterns whose literal s holds
// (bit k for pattern k), and encodedBit when s hides a credential under
// an encoding.
func literalsInText(s string) uint {
	held := credential.PlainLiterals(s)
	if credential.HidesEncoded(s) {
		held |= encodedBit
	}
	return held
}

// sidecar is who sent a record: the pod it names (the name of its member
// record in etcd, the batch's k8s.pod.name; "" when it sent none) and the
// sender the collector authenticated. The pod is the sender's to write:
// a token stolen from one tenant's sidecar sent another's pod name, and
// its records stood as that pod's, so the sender goes with it everywhere
// the pack names a sidecar (TestForgedPodNamesItsSender).
type sidecar struct{ pod, sender string }

// sidecarOf returns who sent r.
func sidecarOf(r *collector.StoredRecord) sidecar { return sidecar{r.Pod, r.Sender} }

// String names s: "pod (sender)", or the sender when it named no pod.
func (s sidecar) String() string {
	if s.pod == "" {
		return s.sender
	}
	return s.pod + " (" + s.sender + ")"
}

// keyUse is a key's latest allowed request: when, and the sidecar.
type keyUse struct {
	at time.Time
	by sidecar
}

// noteAllowed keeps r's time as its key's latest allowed request, when a
// key authenticated it.
func (t *tally) noteAllowed(r *collector.StoredRecord) {
	if r.AuthMethod != "api_key" || r.KeyID == "" {
		return
	}
	u, ok := t.lastAllowed[r.KeyID]
	if !ok && len(t.lastAllowed) >= maxKeysUsed {
		t.lastAllowedOver++
		return
	}
	if !ok || r.Time.After(u.at) {
		t.lastAllowed[r.KeyID] = keyUse{r.Time, sidecarOf(r)}
	}
}
