package policy

import (
	"slices"
	"strings"
	"testing"
)

// TestLoadDetection checks that detection rules and ticket sinks are
// validated with the line of the field at fault.
func TestLoadDetection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"good", with(0,
			"tickets:", // 30
			"  - {name: secops, kind: webhook, url: \"http://127.0.0.1:9/a\", secret: env:S}", // 31
			"detection:", // 32
			"  - {name: probe, kind: tenant_probe, group_by: client, threshold: 5, window: 10m, severity: high, action: suspend, suspend: 15m, ticket: secops}", // 33
		), nil},
		{"bad kind and severity", with(0,
			"detection:",           // 30
			"  - name: guess",      // 31
			"    kind: guessing",   // 32
			"    severity: urgent", // 33
		), []string{
			`p.yaml:32: detection rule "guess": kind "guessing" must be one of`,
			`p.yaml:33: detection rule "guess": severity "urgent" must be one of low, medium, high, critical`,
		}},
		{"window, group and sink", with(0,
			"detection:",                 // 30
			"  - name: egress",           // 31
			"    kind: egress_spike",     // 32
			"    group_by: source",       // 33
			"    bytes: 1GiB",            // 34
			"    window: 10 minutes",     // 35
			"    severity: high",         // 36
			"    ticket: nowhere",        // 37
			"  - name: egress",           // 38
			"    kind: privileged_grant", // 39
			"    severity: low",          // 40
			"    action: suspend",        // 41
		), []string{
			`p.yaml:33: detection rule "egress": group_by "source" is not one of [tenant client] for kind egress_spike`,
			`p.yaml:35: detection rule "egress": window: cannot parse duration "10 minutes"`,
			`p.yaml:37: detection rule "egress": unknown ticket sink "nowhere"`,
			`p.yaml:38: duplicate detection rule "egress" (first defined at line 31)`,
			`p.yaml:38: detection rule "egress": action suspend needs suspend`,
		}},
		{"action on a group that names no client", with(0,
			"detection:", // 30
			"  - {name: guess-src, kind: tenant_probe, group_by: source, threshold: 30, window: 1m, severity: high, action: revoke_key}",     // 31
			"  - {name: spike, kind: rate_limit_spike, threshold: 100, window: 5m, severity: medium, action: suspend, suspend: 15m}",         // 32
			"  - {name: guess-client, kind: auth_failures, group_by: client, threshold: 20, window: 1m, severity: high, action: revoke_key}", // 33
		), []string{
			`p.yaml:31: detection rule "guess-src": action revoke_key acts on the alert's client; group_by source names none`,
			`p.yaml:32: detection rule "spike": action suspend acts on the alert's client; group_by tenant names none`,
		}},
		{"sink secret in the clear", with(0,
			"tickets:",         // 30
			"  - name: secops", // 31
			"    kind: jira",   // 32
			"    url: http://jira.example/rest/api/2/issue", // 33
			"    secret: hunter2",                           // 34
		), []string{
			`p.yaml:33: ticket sink "secops": url "http://jira.example/rest/api/2/issue" must be an https URL`,
			`p.yaml:34: ticket sink "secops": secret must be a reference env:NAME or file:PATH`,
		}},
		{"sink url with a password", with(0,
			"tickets:",         // 30
			"  - name: secops", // 31
			"    kind: jira",   // 32
			"    url: http://bot:s3cr3t@jira.example/rest/api/2/issue", // 33
		), []string{
			`p.yaml:33: ticket sink "secops": url "http://bot:xxxxx@jira.example/rest/api/2/issue" must be an https URL`,
		}},
	}
	for _, tt := range tests {
		_, err := Load("p.yaml", []byte(tt.doc))
		if tt.want == nil {
			if err != nil {
				t.Errorf("%s: Load: %v", tt.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: Load accepted:\n%s", tt.name, numbered(tt.doc))
			continue
		}
		got := strings.Split(err.Error(), "\n")
		for _, w := range tt.want {
			if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
				t.Errorf("%s: no problem starting %q in:\n%s", tt.name, w, err)
			}
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: %d problems, want %d:\n%s", tt.name, len(got), len(tt.want), err)
		}
	}
}

// TestExampleDetection checks that the example policy ships every rule
// kind, enabled, and the generic webhook sink with its secret by reference.
func TestExampleDetection(t *testing.T) {
	t.Parallel()
	d, err := LoadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, r := range d.Detection {
		kinds[r.Kind] = true
	}
	for k := range detectionKinds {
		if !kinds[k] {
			t.Errorf("example policy has no %s rule", k)
		}
	}
	if len(d.Tickets) != 1 || d.Tickets[0].Kind != "webhook" || d.Tickets[0].Secret != "env:PORTCULLIS_TICKET_SECRET" {
		t.Errorf("tickets = %+v, want one webhook sink with secret env:PORTCULLIS_TICKET_SECRET", d.Tickets)
	}
}
