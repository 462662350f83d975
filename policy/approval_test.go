package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// approvalDoc is a small policy with an approval on its bulk class and
// an override on one route.
const approvalDoc = `version: 1
tenants: [{id: acme}]
scopes:
  - {name: export:data, description: Bulk export, privileged: true}
classes:
  - name: bulk
    kind: bulk
    max_body: 64KiB
    approval: {required: true, max_uses: 2, max_age: 30m}
routes:
  - {method: POST, path: /v1/exports, class: bulk, scopes: [export:data]}
  - method: POST
    path: /v1/exports/small
    class: bulk
    scopes: [export:data]
    approval: {required: false}
  - method: POST
    path: /v1/exports/full
    class: bulk
    scopes: [export:data]
    approval: {required: true}
clients: [{id: c1, tenant: acme, scopes: [export:data]}]
`

func TestCompileApproval(t *testing.T) {
	t.Parallel()
	doc, err := Load("p.yaml", []byte(approvalDoc))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	s, err := Compile(doc, Live{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	check := func(path string, want *Approval) {
		t.Helper()
		r := s.Match([]byte("POST"), []byte(path))
		if r == nil {
			t.Fatalf("no route for POST %s", path)
		}
		switch {
		case want == nil && r.Approval != nil:
			t.Errorf("POST %s: Approval = %+v, want none", path, *r.Approval)
		case want != nil && (r.Approval == nil || *r.Approval != *want):
			t.Errorf("POST %s: Approval = %+v, want %+v", path, r.Approval, *want)
		}
	}
	check("/v1/exports", &Approval{MaxUses: 2, MaxAge: 30 * time.Minute, Route: "POST /v1/exports"})
	check("/v1/exports/small", nil)
	check("/v1/exports/full", &Approval{MaxUses: 1, MaxAge: time.Hour, Route: "POST /v1/exports/full"})
	if got := s.Classes[0].Approval; got == nil || got.MaxUses != 2 || got.Route != "" {
		t.Errorf("class Approval = %+v, want max_uses 2 and no route", got)
	}
}

// A wrong approval is reported at the line of the wrong field.
func TestLoadApprovalProblems(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, from, to, want string }{
		{"age unparsable", "max_age: 30m", "max_age: soon", "p.yaml:9:"},
		{"age too long", "max_age: 30m", "max_age: 200h", "p.yaml:9:"},
		{"age too short", "max_age: 30m", "max_age: 10ms", "p.yaml:9:"},
		{"uses too many", "max_uses: 2", "max_uses: 5000", "p.yaml:9:"},
		{"uses negative", "max_uses: 2", "max_uses: -1", "p.yaml:9:"},
		{"unknown field", "max_uses: 2", "max_usage: 2", "p.yaml:9: field max_usage not found"},
		{"public route", "path: /v1/exports/full\n    class: bulk\n    scopes: [export:data]", "path: /v1/exports/full\n    class: bulk\n    public: true", "approval"},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(approvalDoc, c.from, c.to, 1)
			_, err := Load("p.yaml", []byte(doc))
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Load = %v, want an *Error", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Load = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// A public route in a class that requires an approval is refused at the
// route's public line (the class's approval would never be asked for on
// it), unless the route sets approval: {required: false}.
func TestLoadPublicRouteInApprovalClass(t *testing.T) {
	t.Parallel()
	const doc = `version: 1
tenants: [{id: acme}]
scopes:
  - {name: read:status, description: Status}
classes:
  - name: standard
    kind: standard
    max_body: 64KiB
    approval: {required: true}
routes:
  - method: GET
    path: /v1/status
    class: standard
    public: true
clients: [{id: c1, tenant: acme, scopes: [read:status]}]
`
	_, err := Load("p.yaml", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "p.yaml:14:") || !strings.Contains(err.Error(), "public route") {
		t.Errorf("Load = %v, want p.yaml:14: naming the public route", err)
	}
	optOut := strings.Replace(doc, "public: true", "public: true\n    approval: {required: false}", 1)
	if _, err := Load("p.yaml", []byte(optOut)); err != nil {
		t.Errorf("Load with approval: {required: false} on the route = %v, want nil", err)
	}
}

// An approval written without required must not mean "none": a route
// that tunes its class's approval (max_uses, max_age) and leaves out
// required, or a class that does, must not drop the two-person rule.
// schema.json requires the field; Load refuses the document, also when
// the approval comes from a merge key without it.
func TestLoadApprovalNeedsRequired(t *testing.T) {
	t.Parallel()
	for name, from := range map[string]struct{ old, new string }{
		"route":       {"approval: {required: true}", "approval: {max_uses: 5, max_age: 10m}"},
		"class":       {"approval: {required: true, max_uses: 2, max_age: 30m}", "approval: {max_uses: 2}"},
		"empty":       {"approval: {required: true}", "approval: {}"},
		"merged-none": {"approval: {required: true}", "approval: {<<: {max_uses: 3}}"},
		"merged-in":   {"approval: {required: true}", "<<: {approval: {max_uses: 3}}"},
		"null":        {"approval: {required: true}", "approval: {required: , max_uses: 3}"},
	} {
		doc := strings.Replace(approvalDoc, from.old, from.new, 1)
		if doc == approvalDoc {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		_, err := Load("p.yaml", []byte(doc))
		if err == nil || !strings.Contains(err.Error(), "required") {
			t.Errorf("%s: Load(%s) = %v, want a problem saying required is missing", name, from.new, err)
		}
	}
	// required from a merge key is written.
	merged := strings.Replace(approvalDoc, "approval: {required: true}", "approval: {<<: {required: true}, max_uses: 3}", 1)
	if _, err := Load("p.yaml", []byte(merged)); err != nil {
		t.Errorf("required through a merge key: %v", err)
	}
}
