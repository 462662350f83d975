package policy

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// WeakeningKind is one kind of change Weakenings lists.
type WeakeningKind struct {
	Name        string // a few words, as messages list the kinds
	Description string // what counts, word for word as docs/etcd.md lists it
}

// WeakeningKinds returns the kinds of change Weakenings lists: the one
// description of them, which the CLI's messages and the evidence pack
// name (WeakeningKindNames) and docs/etcd.md lists word for word
// (TestWeakeningKindsDocumented). Before, three texts described them in
// different words, and each missed kinds the others had. It returns a
// copy: an exported slice was one any package could rewrite, and with it
// what the push's refusal and the pack say counts.
func WeakeningKinds() []WeakeningKind { return slices.Clone(weakeningKinds) }

var weakeningKinds = []WeakeningKind{
	{"lifecycle rules off", "lifecycle.privileged_key_approval or lifecycle.require_ticket turned off"},
	{"max_key_age lengthened", "lifecycle.max_key_age lengthened or removed: keys made under it live longer"},
	{"route approvals", "a route that required an approval (its own or its class's) that no longer does, is gone or renamed, or allows more uses or a longer max_age"},
	{"privileged classes' checks", "a privileged or bulk class whose allow_cidrs take a network inside none they allowed or are removed, whose auth_methods allow a method they did not (none listed allows every method), or whose max_token_age is lengthened or removed; or a route of such a class served (the same method, or a HEAD for a GET, an overlapping template) by a route of another class that checks less in one of these"},
	{"privileged scopes", "while privileged_key_approval is on: a scope that stops being privileged, or a client given a privileged scope it did not hold (its existing keys become privileged credentials)"},
	{"privileged clients' credentials", "while privileged_key_approval is on: an mTLS identity added to a client holding a privileged scope; a key in the document for such a client that the policy in force does not hold as it is (same id, client and SHA-256, valid from no earlier, until no later, its age starting no later, not revoked there): a new key, one moved from another client, extended or un-revoked; an issuer added or changed in any field whose tenants hold such a client, or such a client moved into (or added to) a tenant of an issuer kept as it is: its tokens may name it"},
	{"routes' privileged scopes", "while privileged_key_approval is on: a route that serves requests of a route of the policy in force (the same method and path, or a template overlapping it as validation's overlap does: /v1/admin/{name} or /v1/Admin/settings in place of /v1/admin/settings; a HEAD serves a GET's, whose handler runs for it) and no longer requires a scope privileged there, or is public: a key made without an approval would reach it"},
	{"privileged clients moved", "while privileged_key_approval is on: a client holding a privileged scope moved to another tenant: its keys and mTLS identities become privileged credentials of that tenant, as a privileged client made there would be"},
	{"tenant binding", "a route that binds a segment to the caller's tenant ({tenant}) served (the same method, or a HEAD for a GET, an overlapping template) by a route that binds no {tenant} there ({t} in its place, or a literal), or is public"},
	{"HEAD routes without their GET", "a HEAD route that no GET route of the document covers (one whose template matches every path the HEAD's matches), unless the policy in force has a HEAD route of the same path that it is checked no less than (public, tenant binding, scopes, class, approval): services run a GET handler for a HEAD, and a GET route removed by an earlier push leaves its handler behind"},
	{"staleness loosened", "while staleness.max_age sets a bound: the bound lengthened or removed, or staleness.action turned from deny to serve"},
	{"audit mode and collector", "audit.mode turned from strict to best_effort (or left out), or audit.collector changed or removed: a sidecar started after it sends its records to another collector, or drops them"},
	{"detection rules", "a detection rule removed (by name) or changed so that it catches or does less: its kind, group_by, baseline or ticket changed, its threshold, factor, bytes or lookback raised, its window or suspend shortened, or its severity or action lowered (notify, suspend, revoke_key); or the ticket sink a rule kept sends to changed (its kind, url, url_file, secret or project): its alerts go elsewhere"},
	{"routes removed and put back", "a route serving requests no route of the policy in force serves, which a route of an earlier pushed document (the newest that had one serving them: what it had the last time it existed) served with more checked: public where it was not, without its tenant binding or one of its scopes, in a class that checks or bounds less (or is not privileged or bulk where it was), or with less of an approval: one push removes a route, the next puts it back with less"},
	{"routes moved to looser classes", "a route served (the same method, or a HEAD for a GET, an overlapping template) by a route of another class that bounds it less, as a class's limits raised would: one push adds a class without a limit and moves the route to it"},
	{"issuers accepting more", "an issuer kept that accepts more of its tokens: an audience added, a typ accepted that was not (types set where none were lets ID tokens pass, types removed a token without typ), a longer clock_skew, or a longer max_lifetime or its bound removed"},
	{"issuers' signers replaced", "an issuer kept whose issuer, jwks, jwks_url or hmac_secret changed, that takes an algorithm more, or whose tenant_claim or client_claim changed: an issuer added in all but name, whose tokens another signer makes may name the clients of its tenants"},
	{"public_routes set", "public_routes set where the policy in force leaves it out: its max_in_flight replaces the sidecar's default (a quarter of its upstream connections), which the document does not know"},
	{"classes' limits", "a class of any kind whose max_body or max_response_body is raised, whose limit allows more (rate or burst) or is removed, or whose concurrency allows more (max, queue or max_wait) or is removed; a class that is not privileged or bulk whose allow_cidrs, auth_methods or max_token_age are loosened as a privileged class's are"},
	{"routes' scopes", "a route that serves requests of a route of the policy in force (the same method, or a HEAD for a GET, an overlapping template) and no longer requires one of its scopes, privileged or not, or is public"},
	{"public_routes widened", "public_routes.max_in_flight raised, or public_routes removed (the sidecar's default in its place)"},
	{"trusted_proxies widened", "trusted_proxies given a network inside none they trusted: a trusted proxy forwards the source address it likes, which allow_cidrs check and the audit records and the detection rules grouped by source take for the client's"},
	{"issuers' tenants", "an issuer given a tenant it did not list (an issuer added: each tenant it lists): its tokens may name that tenant's clients"},
	{"tenant or refused headers dropped", "a name removed from tenant_headers (the service's header goes on as the client's word: a caller names the tenant it is served as) or from refuse_headers (a credential the sidecar does not verify crosses to the service), tenant_params or tenant_cookies (on a route binding {tenant}, the service's parameter or cookie goes on as the client's word)"},
	{"refused cookies dropped", "a name removed from refuse_cookies (compared in any case): a session cookie or other credential the sidecar does not verify crosses to the service"},
	{"scopes made privileged", "while privileged_key_approval is on: a scope that clients hold made privileged (a line for each client that holds it, or their count when there are more than ten): their existing keys and mTLS identities, made without an approval, become privileged credentials"},
	{"max_sidecars raised", "global_limits.max_sidecars raised, or global_limits removed (the default, 1000, in its place): more member records share a global limit, and fake ones (a stolen sidecar certificate) take more of a busy sidecar's share"},
}

// WeakeningKindNames joins the names of WeakeningKinds, as messages list
// them: "lifecycle rules off; max_key_age lengthened; ...".
func WeakeningKindNames() string {
	names := make([]string, len(weakeningKinds))
	for i, k := range weakeningKinds {
		names[i] = k.Name
	}
	return strings.Join(names, "; ")
}

// Weakenings lists what pushing next in place of cur undoes of the
// two-person controls (the approvals of issue 20), one line each, or
// nothing. One operator's push of such a document would undo alone what
// takes two people otherwise, so etcdadmin.PushPolicy makes it name a
// second person's approval. cur is the policy in force (an empty Document
// when there is none: a first push weakens nothing). WeakeningKinds says
// what it lists. The kinds "while privileged_key_approval is on" count
// only while it is on in cur (the rule that makes a credential of a
// privileged client take two people): a push that turns it on, or a
// first push, sets up the privileged credentials it starts from.
//
// The comparison errs towards weakening: a route renamed or a key moved
// counts as one.
func Weakenings(cur, next *Document) []string { return WeakeningsUnder(cur, next, WeakeningRules) }

// WeakeningRules numbers the set of kinds Weakenings holds to an
// approval. A push records the number its CLI checked (the policy.push
// event's weakening_rules; none: 1), so that the evidence pack judges a
// push of an older release by the kinds that release checked, and names
// what it would weaken now apart, rather than as a push that got past the
// CLI. Rules 2 added tenant binding, HEAD routes without their GET,
// staleness, audit mode and collector, and detection rules. Rules 3 added
// routes removed and put back with less (FormerRouteWeakenings, which
// needs the policy history and is the caller's to add), classes' limits,
// routes' scopes, public_routes, trusted_proxies and issuers' tenants.
// Rules 4 added privileged clients moved to another tenant. Rules 5
// added scopes made privileged that clients hold, and
// global_limits.max_sidecars raised. Rules 6 added routes moved to a
// class that bounds them less, issuers' signers replaced, and
// public_routes set where it was left out.
const WeakeningRules = 6

// WeakeningsUnder is Weakenings by the kinds of rules (1 to WeakeningRules).
func WeakeningsUnder(cur, next *Document, rules int) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if keyApproval(cur) && !keyApproval(next) {
		add("lifecycle.privileged_key_approval turned off")
	}
	if cur.Lifecycle.TicketRequired() && !next.Lifecycle.TicketRequired() {
		add("lifecycle.require_ticket turned off")
	}
	if was, now := keyAge(cur), keyAge(next); was > 0 && (now == 0 || now > was) {
		add("lifecycle.max_key_age lengthened from %s to %s", was, ageText(now))
	}
	out = append(out, routeWeakenings(cur, next)...)
	if rules >= 2 {
		out = append(out, tenantWeakenings(cur, next)...)   // twoperson_routes.go
		out = append(out, loneHeadWeakenings(cur, next)...) // twoperson_routes.go
		out = append(out, settingWeakenings(cur, next)...)  // twoperson_settings.go
	}
	if rules >= 3 {
		out = append(out, rules3Weakenings(cur, next)...) // twoperson_rules3.go
	}
	out = append(out, classWeakenings(cur, next)...) // twoperson_class.go
	if keyApproval(cur) {
		out = append(out, privilegeWeakenings(cur, next)...)
		if rules >= 4 {
			out = append(out, tenantMoves(cur, next)...)
		}
		if rules >= 5 {
			out = append(out, madePrivileged(cur, next)...) // twoperson_rules5.go
		}
	}
	if rules >= 5 {
		out = append(out, sidecarsWeakening(cur, next)...)
	}
	if rules >= 6 {
		out = append(out, routeLimitWeakenings(cur, next)...) // twoperson_rules6.go
		out = append(out, keptIssuerWeakenings(cur, next)...) // twoperson_rules6.go
		out = append(out, publicRoutesSet(cur, next)...)      // twoperson_rules6.go
	}
	return out
}

// tenantMoves lists the clients holding a privileged scope in next that
// cur has in another tenant. Their keys and mTLS identities go with them:
// a client's tenant is the one it is served as, so acme's admin console
// became another tenant's administrator on one operator's push, where a
// privileged client made there took an approval (a client given a
// privileged scope) and so did one moved into the tenant of an issuer
// (TestPushMovingAPrivilegedClientToAnotherTenantNeedsApproval).
func tenantMoves(cur, next *Document) []string {
	priv := privilegedScopes(next)
	var out []string
	for _, c := range next.Clients {
		i := slices.IndexFunc(cur.Clients, func(o ClientSpec) bool { return o.ID == c.ID })
		if i < 0 || cur.Clients[i].Tenant == c.Tenant || !slices.ContainsFunc(c.Scopes, func(s string) bool { return priv[s] }) {
			continue
		}
		out = append(out, fmt.Sprintf("client %q (privileged) moved from tenant %q to %q: its keys and mTLS identities become privileged credentials there", c.ID, cur.Clients[i].Tenant, c.Tenant))
	}
	return out
}

func keyApproval(d *Document) bool { return d.Lifecycle != nil && d.Lifecycle.PrivilegedKeyApproval }

// keyAge is d's lifecycle.max_key_age; 0: no bound.
func keyAge(d *Document) time.Duration {
	age, _ := d.Lifecycle.Ages()
	return age
}

// ageText is an age bound as a message names it: "none" for 0.
func ageText(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return d.String()
}

// DocApproval returns the approval the route rs of d requires: its own,
// else its class's; nil for none (or one that does not parse, which Load
// refuses).
func DocApproval(d *Document, rs RouteSpec) *Approval {
	spec := rs.Approval
	if spec == nil {
		i := slices.IndexFunc(d.Classes, func(c ClassSpec) bool { return c.Name == rs.Class })
		if i < 0 {
			return nil
		}
		spec = d.Classes[i].Approval
	}
	a, err := ParseApproval(spec)
	if err != nil || a == nil || rs.Public {
		return nil
	}
	a.Route = rs.Method + " " + rs.Path
	return a
}

// routeWeakenings lists the routes of cur that require an approval and
// that next requires less of.
func routeWeakenings(cur, next *Document) []string {
	rules := map[string]*Approval{}
	for _, rs := range next.Routes {
		if a := DocApproval(next, rs); a != nil {
			rules[a.Route] = a
		}
	}
	var out []string
	for _, rs := range cur.Routes {
		was := DocApproval(cur, rs)
		if was == nil {
			continue
		}
		now := rules[was.Route]
		switch {
		case now == nil:
			out = append(out, fmt.Sprintf("route %q no longer requires an approval (or is gone)", was.Route))
		case now.MaxUses > was.MaxUses || now.MaxAge > was.MaxAge:
			out = append(out, fmt.Sprintf("route %q approval widened from %d use(s) within %s to %d within %s", was.Route, was.MaxUses, was.MaxAge, now.MaxUses, now.MaxAge))
		}
	}
	return out
}

// privilegeWeakenings lists the privileged scopes, clients, keys and
// mTLS identities next adds or widens over cur (Weakenings).
func privilegeWeakenings(cur, next *Document) []string {
	var out []string
	curPriv, nextPriv := privilegedScopes(cur), privilegedScopes(next)
	for _, s := range next.Scopes {
		if curPriv[s.Name] && !s.Privileged {
			out = append(out, fmt.Sprintf("scope %q no longer privileged", s.Name))
		}
	}
	curClients := map[string]ClientSpec{}
	for _, c := range cur.Clients {
		curClients[c.ID] = c
	}
	privClient := map[string]bool{}
	for _, c := range next.Clients {
		was := curClients[c.ID]
		for _, s := range c.Scopes {
			if !nextPriv[s] {
				continue
			}
			privClient[c.ID] = true
			if !slices.Contains(was.Scopes, s) {
				out = append(out, fmt.Sprintf("client %q given privileged scope %q", c.ID, s))
			}
		}
		if !privClient[c.ID] {
			continue
		}
		for _, id := range c.MTLSIdentities {
			if !slices.Contains(was.MTLSIdentities, id) {
				out = append(out, fmt.Sprintf("client %q (privileged) given mTLS identity %q", c.ID, id))
			}
		}
	}
	for i := range next.Keys {
		k := &next.Keys[i]
		if privClient[k.Client] && !narrowerKey(cur.Keys, k) {
			out = append(out, fmt.Sprintf("key %q added or widened in the document for client %q (privileged)", k.ID, k.Client))
		}
	}
	out = append(out, routeScopeWeakenings(cur, next, curPriv)...)
	return append(out, issuerWeakenings(cur, next, privClient)...)
}

// routeScopeWeakenings lists the routes of cur that required a scope
// privileged in cur (a request needs every scope of its route) and whose
// requests a route of next serves with that scope no longer required, or
// public. The route of next is any of the same method whose template
// overlaps (as validation's overlap: literals ignoring case), not only one
// of the same name: /v1/admin/{name} or /v1/Admin/settings in place of
// /v1/admin/settings serves its requests too. Validation lets no two
// routes of one document overlap, so a path is served by at most one
// route of each. A route gone with nothing in its place weakens nothing:
// it is refused.
func routeScopeWeakenings(cur, next *Document, curPriv map[string]bool) []string {
	nextSegs := templates(next.Routes) // nil for a bad one, which Load refuses
	var out []string
	for _, rs := range cur.Routes {
		segs, err := splitTemplate(rs.Path)
		if rs.Public || err != nil {
			continue
		}
		name := rs.Method + " " + rs.Path
		for _, sc := range rs.Scopes {
			if !curPriv[sc] {
				continue
			}
			for i, now := range next.Routes {
				if serves(now.Method, rs.Method) && nextSegs[i] != nil && overlap(segs, nextSegs[i]) &&
					(now.Public || !slices.Contains(now.Scopes, sc)) {
					out = append(out, fmt.Sprintf("route %q no longer requires privileged scope %q", name, sc))
					break
				}
			}
		}
	}
	return out
}

// serves reports whether a route of method now serves the requests of a
// route of method was whose template it overlaps: the same method, or a
// HEAD for a GET, whose handler services run for it (headLooser). Before,
// a push that put a HEAD route of a lesser class and scope in place of a
// privileged GET weakened nothing (TestWeakeningsHeadServesGet): the HEAD
// ran the GET's handler without its scope or its class's checks, on one
// operator's word; validation holds a HEAD to a GET only of the same
// document.
func serves(now, was string) bool { return now == was || was == "GET" && now == "HEAD" }

// issuerWeakenings lists the issuers of next, added or changed in any
// field, whose tokens may name a client holding a privileged scope (one
// of its tenants'): such a token is a credential of that client that no
// keys create approved. An issuer kept as it is weakens nothing unless a
// privileged client is moved into (or added to) one of its tenants: its
// tokens, which could not name that client before, now may.
func issuerWeakenings(cur, next *Document, privClient map[string]bool) []string {
	curTenant := map[string]string{}
	for _, c := range cur.Clients {
		curTenant[c.ID] = c.Tenant
	}
	var out []string
	for _, is := range next.Issuers {
		i := slices.IndexFunc(cur.Issuers, func(o IssuerSpec) bool { return o.ID == is.ID })
		changed := i < 0 || !reflect.DeepEqual(cur.Issuers[i], is)
		if w := issuerWeakening(is, changed, next.Clients, privClient, curTenant); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// issuerWeakening is issuerWeakenings for the issuer is: its first
// privileged client that it may name and, unless changed, could not name
// before (of another tenant in cur, or not in cur); "" for none.
func issuerWeakening(is IssuerSpec, changed bool, clients []ClientSpec, privClient map[string]bool, curTenant map[string]string) string {
	for _, c := range clients {
		if !privClient[c.ID] || !slices.Contains(is.Tenants, c.Tenant) {
			continue
		}
		if changed {
			return fmt.Sprintf("issuer %q added or changed, and its tokens may name client %q (privileged) of tenant %q", is.ID, c.ID, c.Tenant)
		}
		if curTenant[c.ID] != c.Tenant {
			return fmt.Sprintf("issuer %q may name client %q (privileged), moved to or added in its tenant %q", is.ID, c.ID, c.Tenant)
		}
	}
	return ""
}

func privilegedScopes(d *Document) map[string]bool {
	m := make(map[string]bool, len(d.Scopes))
	for _, s := range d.Scopes {
		m[s.Name] = s.Privileged
	}
	return m
}

// narrowerKey reports whether keys holds k as it is or wider: the same id,
// client and SHA-256, not revoked, valid from no later, until no earlier
// and with an age that starts no later. A time that does not parse is
// taken for the wider side.
func narrowerKey(keys []KeySpec, k *KeySpec) bool {
	i := slices.IndexFunc(keys, func(o KeySpec) bool { return o.ID == k.ID })
	if i < 0 {
		return false
	}
	o := &keys[i]
	if o.Client != k.Client || !strings.EqualFold(o.SHA256, k.SHA256) || o.Revoked && !k.Revoked {
		return false
	}
	oNB, err1 := parseTime(o.NotBefore)
	kNB, err2 := parseTime(k.NotBefore)
	oNA, err3 := parseTime(o.NotAfter)
	kNA, err4 := parseTime(k.NotAfter)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return false
	}
	switch {
	case kNB.Before(oNB), // earlier start (the zero time, none, is earliest)
		!oNA.IsZero() && (kNA.IsZero() || kNA.After(oNA)), // later end (none is latest)
		k.Born().After(o.Born()):                          // its max_key_age counts from later (an unknown age, zero, is refused: earliest)
		return false
	}
	return true
}

// NewlyPrivileged returns the clients next gives a privileged scope that
// they do not hold in cur as a privileged one (given them, or a scope they
// hold made privileged), while cur has privileged_key_approval on (nil
// otherwise): a key of one made after a push's approval was asked becomes
// a privileged credential no second person saw. The CLI refuses such a
// push (etcdadmin's noKeysSince), the evidence pack flags one written
// past it (keySince).
func NewlyPrivileged(cur, next *Document) map[string]bool {
	if !keyApproval(cur) {
		return nil
	}
	wasPriv, priv := privilegedScopes(cur), privilegedScopes(next)
	had := map[string][]string{} // the privileged scopes each client held
	for _, c := range cur.Clients {
		for _, s := range c.Scopes {
			if wasPriv[s] {
				had[c.ID] = append(had[c.ID], s)
			}
		}
	}
	given := map[string]bool{}
	for _, c := range next.Clients {
		if slices.ContainsFunc(c.Scopes, func(s string) bool { return priv[s] && !slices.Contains(had[c.ID], s) }) {
			given[c.ID] = true
		}
	}
	return given
}
