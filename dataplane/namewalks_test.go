package dataplane

import (
	"math/rand"
	"strings"
	"testing"
)

// The tenant parameter's JSON walk (tenantJSON) and a tenant_params
// name's (jsonNamed) read the same bodies: one of them reading a member
// the other passes over would be a way round it. Their names differ in
// one rule only, ABP's leading underscores, which count for tenant
// alone (namedTail's underscores); so do the walks of a query or form
// field's name (tenantLast, namedLast).

// jsonWalkPieces are what the bodies below are made of: JSON's
// structure, both quotes, escapes, comments and the letters of tenant.
var jsonWalkPieces = []string{"{", "}", "[", "]", ",", ":", `"`, "'", `\`, `\u0074`, `\"`, "/*", "*/", "//",
	"\n", " ", "tenant", "Tenant", "TENANT", "tenan", "t", "q", ".", "0", "1", "é", "null"}

// TestJSONWalksAgree checks, on bodies written by hand and 20,000 made
// at random (a fixed seed), that tenantJSON and jsonNamed with wants
// tenant answer alike for every body without an underscore, and that
// "__tenant" is tenant's alone.
func TestJSONWalksAgree(t *testing.T) {
	bodies := []string{
		`{"tenant":1}`, `{"q":{"Tenant":1}}`, `{'tenant':1}`, `{tenant:1}`, `{"a":"tenant"}`,
		`{"a":"{\"tenant\":1}"}`, `{/*"*/"tenant":1}`, `{"te\u006eant":1}`, `{"q.tenant":1}`,
		`{"q[0]":{"tenant":1}}`, `{"tenant" /**/ : 1}`, `{"tenant"// x` + "\n:1}", `[{"q":[{"tenant":2}]}]`,
		`{"tenants":1}`, `{"tenant.x":1}`, `{"tenant[]":1}`, `{"0":{"tenant"`, `{"tenant`, `{tenant/**/:1}`,
	}
	r := rand.New(rand.NewSource(805))
	for range 20000 {
		var b strings.Builder
		for range 1 + r.Intn(14) {
			b.WriteString(jsonWalkPieces[r.Intn(len(jsonWalkPieces))])
		}
		bodies = append(bodies, b.String())
	}
	tenant := []string{"tenant"}
	for _, body := range bodies {
		if got, named := tenantJSON([]byte(body)), jsonNamed([]byte(body), tenant); got != named {
			t.Errorf("%q: tenantJSON %v, jsonNamed with tenant %v; want the same", body, got, named)
		}
	}
	for _, body := range []string{`{"__tenant":1}`, `{"q":{"_Tenant":1}}`, `{q._tenant:1}`} {
		if !tenantJSON([]byte(body)) || jsonNamed([]byte(body), tenant) {
			t.Errorf("%q: tenantJSON %v, jsonNamed with tenant %v; want true (ABP's __tenant) and false",
				body, tenantJSON([]byte(body)), jsonNamed([]byte(body), tenant))
		}
	}
}

// formNamePieces are what the field names below are made of: the
// separators of a name's parts, escapes and the letters of tenant.
var formNamePieces = []string{"tenant", "Tenant", "TENANT", "tenan", "t", "%74", "%2E", "%5B", "%5D", "%00", "+",
	"%u0074", ".", "[", "]", "0", "12", "q", "é", "%"}

// TestFormNameWalksAgree checks, on names written by hand and 20,000
// made at random (a fixed seed), that tenantLast and namedLast with
// wants tenant answer alike for every name without an underscore, and
// that "q.__tenant" is tenant's alone.
func TestFormNameWalksAgree(t *testing.T) {
	names := []string{"tenant", "q.tenant", "q[Tenant]", "a[0].tenant", "q[tenant][]", "q[0]", "tenants",
		"q.te%6Eant", "q%5Btenant%5D", "tenant%00.x", "q.tenant.0", "q.tenant.x", "tenant[", ".tenant."}
	r := rand.New(rand.NewSource(805))
	for range 20000 {
		var b strings.Builder
		for range 1 + r.Intn(8) {
			b.WriteString(formNamePieces[r.Intn(len(formNamePieces))])
		}
		names = append(names, b.String())
	}
	tenant := []string{"tenant"}
	for _, name := range names {
		if got, named := tenantLast([]byte(name)), namedLast([]byte(name), tenant); got != named {
			t.Errorf("%q: tenantLast %v, namedLast with tenant %v; want the same", name, got, named)
		}
	}
	for _, name := range []string{"q.__tenant", "q[_Tenant]", "__tenant"} {
		if !tenantLast([]byte(name)) || namedLast([]byte(name), tenant) {
			t.Errorf("%q: tenantLast %v, namedLast with tenant %v; want true (ABP's __tenant) and false",
				name, tenantLast([]byte(name)), namedLast([]byte(name), tenant))
		}
	}
}

// fieldPieces are what the query field names below are made of: blanks
// raw and escaped, the separators of a name's parts, NUL and the letters
// of tenant.
var fieldPieces = []string{"tenant", "Tenant", " ", "+", "%20", "\t", "[", "]", "%5B", ".", "%2E", "%00", "q", "0",
	"%u0074", "\xa0", "%A0", "%0B", "%74"}

// TestFormFieldWalksAgree checks, on 50,000 field names made at random
// (a fixed seed, no underscore), that a name the tenant parameter's
// reading takes for tenant (tenantField, overrideForm's) a tenant_params
// name tenant would be refused as too (formNamed's nameOf and
// namedLast): the two readings of a query or form field were written
// apart. The other way they differ, and the tenant_params reading is
// the stricter: it takes "tenant " (a blank after the name, decoded or
// not) for tenant, as cookie parsers trim a name, where query parsers
// keep the blank (PHP turns it into '_').
func TestFormFieldWalksAgree(t *testing.T) {
	r := rand.New(rand.NewSource(805))
	for range 50000 {
		var b strings.Builder
		for range 1 + r.Intn(5) {
			b.WriteString(fieldPieces[r.Intn(len(fieldPieces))])
		}
		f := []byte(b.String())
		if tenantField(f) && nameOf(f, tenantWants) == 0 && !namedLast(f, tenantWants) {
			t.Errorf("%q: tenant to tenantField, not to formNamed's reading of tenant", f)
		}
	}
	if f := []byte("tenant%20"); tenantField(f) || nameOf(f, tenantWants) == 0 {
		t.Errorf("%q: tenantField %v, nameOf %d; want false and 1 (the stricter reading)", f, tenantField(f), nameOf(f, tenantWants))
	}
}
