package policy

import (
	"fmt"
	"time"
)

// ApprovalSpec makes the requests to a class or route carry a granted
// approval (the two-person rule of issue 20): a request without
// X-Portcullis-Approval naming a live approval for its client and route
// is refused with 403 approval_required.
//
//	approval: {required: true, max_uses: 1, max_age: 1h}
type ApprovalSpec struct {
	Required bool   `yaml:"required" json:"required"`
	MaxUses  int    `yaml:"max_uses,omitempty" json:"max_uses,omitempty"` // requests one approval admits; default 1
	MaxAge   string `yaml:"max_age,omitempty" json:"max_age,omitempty"`   // how long a grant lives; default 1h
}

// Approval defaults and bounds.
const (
	DefaultApprovalUses = 1
	DefaultApprovalAge  = time.Hour
	MaxApprovalUses     = 1000
	MaxApprovalAge      = 7 * 24 * time.Hour
)

// Approval is a compiled approval requirement.
type Approval struct {
	MaxUses int
	MaxAge  time.Duration
	// Route names the route an approval is granted for, "METHOD template"
	// ("POST /v1/exports"); set on a Route's Approval only.
	Route string
}

// ParseApproval checks a and returns its compiled form, defaults filled
// in; nil (or required: false) requires nothing and returns nil.
func ParseApproval(a *ApprovalSpec) (*Approval, error) {
	if a == nil || !a.Required {
		return nil, nil
	}
	out := &Approval{MaxUses: a.MaxUses, MaxAge: DefaultApprovalAge}
	if out.MaxUses == 0 {
		out.MaxUses = DefaultApprovalUses
	}
	if out.MaxUses < 1 || out.MaxUses > MaxApprovalUses {
		return nil, fmt.Errorf("approval max_uses %d must be between 1 and %d", a.MaxUses, MaxApprovalUses)
	}
	if a.MaxAge != "" {
		d, err := time.ParseDuration(a.MaxAge)
		if err != nil {
			return nil, fmt.Errorf("approval max_age %q: %w", a.MaxAge, err)
		}
		out.MaxAge = d
	}
	if out.MaxAge < time.Second || out.MaxAge > MaxApprovalAge {
		return nil, fmt.Errorf("approval max_age %s must be between 1s and %s (it is the lease of a grant)", out.MaxAge, MaxApprovalAge)
	}
	return out, nil
}

// compileApproval is ParseApproval for Compile.
func compileApproval(a *ApprovalSpec) (*Approval, error) { return ParseApproval(a) }

// routeApproval returns the approval rs requires: its own, else its
// class's, named for the route.
func routeApproval(rs RouteSpec, class *Class) (*Approval, error) {
	a := class.Approval
	if rs.Approval != nil {
		own, err := ParseApproval(rs.Approval)
		if err != nil {
			return nil, fmt.Errorf("route %s %s: %w", rs.Method, rs.Path, err)
		}
		a = own
	}
	if a == nil {
		return nil, nil
	}
	if rs.Public {
		return nil, fmt.Errorf("route %s %s: a public route cannot require an approval (its class %q requires one)", rs.Method, rs.Path, class.Name)
	}
	named := *a
	named.Route = rs.Method + " " + rs.Path
	return &named, nil
}

// RouteName is the name an approval gives the route: "METHOD template".
func (r *Route) RouteName() string { return r.Method + " " + r.Template }

// approval validates the approval of item i of section, named what.
func (v *validator) approval(a *ApprovalSpec, section string, i int, what string) {
	if a == nil {
		return
	}
	if _, err := ParseApproval(a); err != nil {
		v.addf(v.lines.approvalAt(section, i, a), "%s: %v", what, err)
	}
}

// routeApproval validates the approval of route i, of class (nil when
// unknown); a public route cannot require one (nobody could be named in
// it), its own or its class's: the request path admits a public route
// before any approval is asked for, so one inherited would be ignored.
func (v *validator) routeApproval(r RouteSpec, i int, class *ClassSpec) {
	v.approval(r.Approval, "routes", i, "route "+r.Method+" "+r.Path)
	switch {
	case !r.Public:
	case r.Approval != nil && r.Approval.Required:
		v.addf(v.lines.at("routes", i, "approval", -1), "route %s %s: a public route cannot require an approval", r.Method, r.Path)
	case r.Approval == nil && class != nil && class.Approval != nil && class.Approval.Required:
		v.addf(v.lines.at("routes", i, "public", -1), "route %s %s: a public route cannot require an approval, and its class %q requires one: give the route approval: {required: false} or another class", r.Method, r.Path, class.Name)
	}
}

// approvalAt returns the line of the approval field of item i of section
// that is wrong in a: max_age when it does not parse or is out of range,
// else max_uses.
func (l lines) approvalAt(section string, i int, a *ApprovalSpec) int {
	n := l.item(section, i)
	if n == nil {
		return l.at(section, i, "", -1)
	}
	ap := mapValue(n, "approval")
	if ap == nil {
		return n.Line
	}
	field := "max_uses"
	if _, err := ParseApproval(&ApprovalSpec{Required: true, MaxAge: a.MaxAge}); err != nil {
		field = "max_age"
	}
	if f := mapValue(ap, field); f != nil {
		return f.Line
	}
	return ap.Line
}
