package policy

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// DetectionSpec is one abuse-detection rule the collector evaluates on the
// stored stream (issue 14). Kind says what it counts:
//
//   - auth_failures: unauthenticated requests per group (client or source);
//   - rate_limit_spike: 429s per tenant above Factor times the tenant's own
//     baseline and at least Threshold;
//   - bulk_spike: requests to kind bulk classes per tenant, as above;
//   - egress_spike: bytes out per group (tenant or client) above Bytes and
//     Factor times the group's baseline;
//   - privileged_grant: a key or client created with privileged scopes
//     (from lifecycle events);
//   - new_network: a client seen from a source network (/24, /64) it has
//     not used within Lookback;
//   - dead_credential: a revoked, expired or suspended credential tried
//     Threshold times in Window;
//   - key_rotation: an API key within lifecycle.rotation_warning of
//     lifecycle.max_key_age, not rotated or revoked (one alert per key);
//   - tenant_probe: requests refused tenant_mismatch (a path naming
//     another tenant than the caller's, a route's {tenant}) per group
//     (client or source), Threshold in Window: a credential probing for
//     other tenants' data.
//
// Action is notify (the default), suspend (the client, for Suspend) or
// revoke_key (the key the records name). Ticket names a sink of
// Document.Tickets; empty sends the alert to every sink.
type DetectionSpec struct {
	Name      string `yaml:"name" json:"name"`
	Kind      string `yaml:"kind" json:"kind"`
	GroupBy   string `yaml:"group_by,omitempty" json:"group_by,omitempty"` // client, source or tenant
	Threshold int64  `yaml:"threshold,omitempty" json:"threshold,omitempty"`
	Bytes     string `yaml:"bytes,omitempty" json:"bytes,omitempty"` // egress_spike: absolute floor
	Window    string `yaml:"window,omitempty" json:"window,omitempty"`
	Baseline  string `yaml:"baseline,omitempty" json:"baseline,omitempty"` // spikes: how far back the baseline reaches
	Factor    int64  `yaml:"factor,omitempty" json:"factor,omitempty"`     // spikes: multiple of the baseline
	Lookback  string `yaml:"lookback,omitempty" json:"lookback,omitempty"` // new_network
	Severity  string `yaml:"severity" json:"severity"`
	Action    string `yaml:"action,omitempty" json:"action,omitempty"`
	Suspend   string `yaml:"suspend,omitempty" json:"suspend,omitempty"`
	Ticket    string `yaml:"ticket,omitempty" json:"ticket,omitempty"`
}

// TicketSpec is a ticket sink: where an alert is sent. Secret is a
// reference (env:NAME or file:PATH), never the secret itself; Project is
// the Jira project key, the GitHub owner/repo or the ServiceNow assignment
// group, by Kind. The URL is given by exactly one of URL and URLFile, a
// file holding it; URL may be a reference too (env:NAME or file:PATH): a
// Slack incoming webhook's URL is its credential, kept out of the policy
// that way (CheckPush refuses it in the clear).
type TicketSpec struct {
	Name    string `yaml:"name" json:"name"`
	Kind    string `yaml:"kind" json:"kind"` // webhook, jira, github, servicenow, slack
	URL     string `yaml:"url,omitempty" json:"url,omitempty"`
	URLFile string `yaml:"url_file,omitempty" json:"url_file,omitempty"`
	Secret  string `yaml:"secret,omitempty" json:"secret,omitempty"`
	Project string `yaml:"project,omitempty" json:"project,omitempty"`
}

// detectionKinds are the rule kinds and the group_by each allows (the
// first is the default).
var detectionKinds = map[string][]string{
	"auth_failures":    {"client", "source"},
	"rate_limit_spike": {"tenant"},
	"bulk_spike":       {"tenant"},
	"egress_spike":     {"tenant", "client"},
	"privileged_grant": {"client"},
	"new_network":      {"client"},
	"dead_credential":  {"client", "source"},
	"key_rotation":     {"key"},
	"tenant_probe":     {"client", "source"},
}

var (
	severities  = map[string]bool{"low": true, "medium": true, "high": true, "critical": true}
	ruleActions = map[string]bool{"notify": true, "suspend": true, "revoke_key": true}
	ticketKinds = map[string]bool{"webhook": true, "jira": true, "github": true, "servicenow": true, "slack": true}
)

// DetectionGroup returns the group a rule counts by: its group_by or the
// default of its kind.
func (r *DetectionSpec) DetectionGroup() string {
	if r.GroupBy != "" {
		return r.GroupBy
	}
	if g := detectionKinds[r.Kind]; len(g) > 0 {
		return g[0]
	}
	return ""
}

func (v *validator) tickets(ts []TicketSpec) map[string]bool {
	seen := map[string]int{}
	for i, t := range ts {
		at := func(f string) int { return v.lines.at("tickets", i, f, -1) }
		if !idPattern.MatchString(t.Name) {
			v.addf(at("name"), "ticket sink name %q must match %s", t.Name, idPattern)
		}
		v.unique(seen, "ticket sink", t.Name, at(""))
		if !ticketKinds[t.Kind] {
			v.addf(at("kind"), "ticket sink %q: kind %q must be one of webhook, jira, github, servicenow, slack", t.Name, t.Kind)
		}
		switch {
		case (t.URL == "") == (t.URLFile == ""):
			v.addf(at(""), "ticket sink %q: set exactly one of url and url_file", t.Name)
		case t.URLFile != "", secretRef(t.URL): // read by the collector (alert.NewSinks)
		case t.Kind == "slack" && !secureURL(t.URL):
			// A Slack incoming webhook's URL is its credential: not quoted.
			v.addf(at("url"), "ticket sink %q: url must be an https URL (http only on loopback)", t.Name)
		case !secureURL(t.URL):
			v.addf(at("url"), "ticket sink %q: url %q must be an https URL (http only on loopback)", t.Name, redactUserinfo(t.URL))
		}
		if t.Secret != "" && !secretRef(t.Secret) {
			v.addf(at("secret"), "ticket sink %q: secret must be a reference env:NAME or file:PATH, never the secret itself", t.Name)
		}
		if t.Secret == "" && t.Kind == "webhook" {
			v.addf(at(""), "ticket sink %q: a webhook sink needs a secret (env:NAME or file:PATH) to sign its payloads", t.Name)
		}
	}
	known := make(map[string]bool, len(seen))
	for n := range seen {
		known[n] = true
	}
	return known
}

func (v *validator) detection(rs []DetectionSpec, sinks map[string]bool) {
	seen := map[string]int{}
	for i := range rs {
		r := &rs[i]
		at := func(f string) int { return v.lines.at("detection", i, f, -1) }
		if !idPattern.MatchString(r.Name) {
			v.addf(at("name"), "detection rule name %q must match %s", r.Name, idPattern)
		}
		v.unique(seen, "detection rule", r.Name, at(""))
		for _, p := range r.check(sinks) {
			v.addf(at(p.field), "detection rule %q: %v", r.Name, p.err)
		}
	}
}

// check validates one rule; it returns every problem with its field.
func (r *DetectionSpec) check(sinks map[string]bool) []issuerProblem {
	var ps []issuerProblem
	add := func(field, format string, args ...any) {
		ps = append(ps, issuerProblem{field, -1, fmt.Errorf(format, args...)})
	}
	groups, ok := detectionKinds[r.Kind]
	if !ok {
		add("kind", "kind %q must be one of auth_failures, rate_limit_spike, bulk_spike, egress_spike, privileged_grant, new_network, dead_credential, key_rotation, tenant_probe", r.Kind)
	} else if r.GroupBy != "" && !contains(groups, r.GroupBy) {
		add("group_by", "group_by %q is not one of %v for kind %s", r.GroupBy, groups, r.Kind)
	}
	if !severities[r.Severity] {
		add("severity", "severity %q must be one of low, medium, high, critical", r.Severity)
	}
	if r.Action != "" && !ruleActions[r.Action] {
		add("action", "action %q must be notify, suspend or revoke_key", r.Action)
	}
	if (r.Action == "suspend" || r.Action == "revoke_key") && r.DetectionGroup() != "client" {
		// The alert's client and key would be those of the record that
		// crossed the threshold: for a source, any key id a guesser sent.
		add("action", "action %s acts on the alert's client; group_by %s names none (group_by client, or notify)", r.Action, r.DetectionGroup())
	}
	if r.Threshold < 0 || r.Factor < 0 {
		add("threshold", "threshold and factor must not be negative")
	}
	ps = append(ps, r.checkDurations()...)
	if (r.Action == "suspend") != (r.Suspend != "") {
		add("suspend", "action suspend needs suspend (a duration), and suspend needs action suspend")
	}
	if r.Ticket != "" && !sinks[r.Ticket] {
		add("ticket", "unknown ticket sink %q", r.Ticket)
	}
	if r.Bytes != "" {
		if _, err := ParseSize(r.Bytes); err != nil {
			add("bytes", "bytes: %w", err)
		}
	}
	if windowed(r.Kind) && (r.Window == "" || r.Threshold == 0 && r.Bytes == "") {
		add("window", "kind %s needs window and a threshold (bytes for egress_spike)", r.Kind)
	}
	if r.Kind == "new_network" && r.Lookback == "" {
		add("lookback", "kind new_network needs lookback (how long a network stays known, e.g. 720h)")
	}
	return ps
}

// checkDurations parses the rule's durations.
func (r *DetectionSpec) checkDurations() []issuerProblem {
	var ps []issuerProblem
	for _, f := range []struct{ name, value string }{{"window", r.Window}, {"baseline", r.Baseline}, {"lookback", r.Lookback}, {"suspend", r.Suspend}} {
		if _, err := parseDuration(f.value); err != nil {
			ps = append(ps, issuerProblem{f.name, -1, fmt.Errorf("%s: %w", f.name, err)})
		}
	}
	return ps
}

// windowed reports whether a rule kind counts within a sliding window.
func windowed(kind string) bool {
	return kind != "privileged_grant" && kind != "new_network" && kind != "key_rotation" && detectionKinds[kind] != nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CheckPush returns the problems, as an *Error, of a policy Load accepted
// that is not to be pushed to etcd:
//   - a Slack sink whose url: is the URL itself. An incoming webhook's URL
//     is its credential (whoever holds it posts to the channel as the
//     alerts do), and the policy in etcd is read by every sidecar and kept
//     in the policy history for good; the sink takes url: env:NAME, url:
//     file:PATH or url_file: instead. A policy file read by the process
//     itself (file mode) may still hold it.
//   - a tenant id that is another's followed by '.' (dotPrefixTenant).
//   - a HEAD route requiring less of an approval than a GET route whose
//     requests it matches (headApprovalLooser).
//   - a route parameter named as the caller's tenant other than {tenant}
//     ({tenant_id}, {org}: tenantLikeParam), which binds nothing.
//   - an issuer with an empty audience, or a tenant_claim or client_claim
//     naming a registered claim or the other's claim (claimProblems): the
//     data plane leaves the issuer out, or answers each of its tokens 401.
//   - an issuer's inline jwks holding private key material (jwksProblems):
//     whoever reads the policy could sign its tokens.
//
// The last five are rules added after documents breaking them had loaded:
// a document that loaded before must load after an upgrade, since a
// sidecar refusing its policy, and the copy it saved, serves nothing, and
// a fleet rolled onto the new binary would stop. So Load keeps taking
// them, the sidecar logs them as warnings (the file mode at each load, the
// etcd mode once for each revision of the policy it loads; the policy
// validate command gives them as notes), and a push of a document breaking them is refused: the policy
// in force is mended by the next push.
func CheckPush(name string, data []byte, d *Document) error {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return nil // Load parsed it: not reached
	}
	v := validator{lines: newLines(&root)}
	for i, t := range d.Tickets {
		if t.Kind == "slack" && t.URL != "" && !secretRef(t.URL) {
			v.addf(v.lines.at("tickets", i, "url", -1), "ticket sink %q: a Slack incoming webhook's URL is its credential, and a policy in etcd reaches every sidecar and its history: give it as url: env:NAME or url: file:PATH", t.Name)
		}
	}
	seen := map[string]int{}
	for i, t := range d.Tenants {
		seen[t.ID] = i
	}
	for i, t := range d.Tenants {
		if p, ok := dotPrefixTenant(t.ID, seen); ok {
			v.addf(v.lines.at("tenants", i, "", -1), "tenant id %q is tenant %q followed by '.': Rails reads the path "+
				"segment %q as tenant %q and a format, and Spring's suffix match as much, so a route binding {tenant} would "+
				"serve %q's data to %q's callers; rename one of them", t.ID, p, t.ID, p, p, t.ID)
		}
	}
	classes := map[string]*ClassSpec{}
	for i := range d.Classes {
		classes[d.Classes[i].Name] = &d.Classes[i]
	}
	for _, f := range headFindings(d.Routes, templates(d.Routes), classes) {
		if f.approval != "" {
			v.addf(v.lines.at("routes", f.head, "", -1), "route HEAD %s is checked less than route GET %s at line %d, whose requests it matches (%s): "+
				"services run the GET handler for a HEAD (Go's ServeMux, Express, Spring, Rails), so a grant for it would run that handler",
				d.Routes[f.head].Path, d.Routes[f.get].Path, v.lines.at("routes", f.get, "", -1), f.approval)
		}
	}
	for i, r := range d.Routes {
		segs, _ := splitTemplate(r.Path) // Load took it
		for _, seg := range segs {
			if isParam(seg) && tenantLikeParam(seg) {
				v.addf(v.lines.at("routes", i, "path", -1), "route %s %s: parameter %s binds nothing: only %s binds its segment to the caller's tenant "+
					"(another tenant's is 403 tenant_mismatch, and tenant parameters and cookies are refused there); name it %s where the segment is "+
					"the caller's tenant, else give it a name that does not say tenant, org or workspace", r.Method, r.Path, seg, TenantParam, TenantParam)
			}
		}
	}
	for i := range d.Issuers {
		for _, p := range append(d.Issuers[i].claimProblems(), d.Issuers[i].jwksProblems()...) {
			v.addf(v.lines.at("issuers", i, p.field, p.elem), "issuer %q: %v", d.Issuers[i].ID, p.err)
		}
	}
	if len(v.problems) > 0 {
		return &Error{File: name, Problems: v.problems}
	}
	return nil
}

// Note says what a valid rule does other than its spelling suggests, or
// "". An action on auth_failures is one: the collector counts toward an
// action only records whose credential the sidecar verified
// (alert/detect.go verified), and a wrong secret under a key id, which
// anyone who read the id can send, is not one, so such a rule acts only on
// a revoked key used with its secret. It is a note, not an error: the
// example policy had such a rule, and a document that loaded before must
// load after an upgrade (a sidecar refusing its policy, and the copy it
// saved, serves nothing).
func (r *DetectionSpec) Note() string {
	if (r.Action == "suspend" || r.Action == "revoke_key") && r.Kind == "auth_failures" {
		return fmt.Sprintf("detection rule %q: action %s on auth_failures acts only on a revoked key used with its secret: a wrong secret under a key id, which is no secret, never suspends or revokes (use notify here, and dead_credential to contain a revoked key in use)", r.Name, r.Action)
	}
	return ""
}
