package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// schema is the part of JSON Schema draft 2020-12 that schema.json uses.
// Decoding rejects any other keyword, so a typo in the schema fails here.
type schema struct {
	Schema               string             `json:"$schema"`
	ID                   string             `json:"$id"`
	Ref                  string             `json:"$ref"`
	Defs                 map[string]*schema `json:"$defs"`
	Title                string             `json:"title"`
	Description          string             `json:"description"`
	Type                 string             `json:"type"`
	Properties           map[string]*schema `json:"properties"`
	Required             []string           `json:"required"`
	AdditionalProperties *bool              `json:"additionalProperties"`
	Items                *schema            `json:"items"`
	MinItems             *int               `json:"minItems"`
	MaxItems             *int               `json:"maxItems"`
	Enum                 []any              `json:"enum"`
	Const                any                `json:"const"`
	Pattern              string             `json:"pattern"`
	Format               string             `json:"format"`
	MinLength            *int               `json:"minLength"`
	Minimum              *float64           `json:"minimum"`
	Maximum              *float64           `json:"maximum"`
}

func loadSchema(t *testing.T) *schema {
	t.Helper()
	data, err := os.ReadFile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s schema
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("schema.json is not valid JSON (or uses an unexpected keyword): %v", err)
	}
	if s.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %q, want draft 2020-12", s.Schema)
	}
	return &s
}

// resolve follows $ref within root.
func (root *schema) resolve(t *testing.T, s *schema) *schema {
	t.Helper()
	for s != nil && s.Ref != "" {
		name, ok := strings.CutPrefix(s.Ref, "#/$defs/")
		if !ok || root.Defs[name] == nil {
			t.Fatalf("unresolvable $ref %q", s.Ref)
		}
		s = root.Defs[name]
	}
	return s
}

// TestSchemaMatchesDocument walks Document's yaml fields and the schema's
// properties together, so that neither can gain a field the other lacks.
func TestSchemaMatchesDocument(t *testing.T) {
	t.Parallel()
	root := loadSchema(t)
	root.match(t, reflect.TypeFor[Document](), root, "Document")
}

func (root *schema) match(t *testing.T, typ reflect.Type, s *schema, path string) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	s = root.resolve(t, s)
	if s == nil {
		t.Errorf("%s: no schema", path)
		return
	}
	switch typ.Kind() {
	case reflect.Struct:
		root.matchStruct(t, typ, s, path)
	case reflect.Slice:
		if s.Type != "array" || s.Items == nil {
			t.Errorf("%s: schema type %q, want an array with items", path, s.Type)
			return
		}
		root.match(t, typ.Elem(), s.Items, path+"[]")
	case reflect.String:
		matchScalar(t, s, path, "string", func(v any) bool { _, ok := v.(string); return ok })
	case reflect.Int, reflect.Int64:
		matchScalar(t, s, path, "integer", func(v any) bool { f, ok := v.(float64); return ok && f == float64(int64(f)) })
	case reflect.Bool:
		matchScalar(t, s, path, "boolean", func(v any) bool { _, ok := v.(bool); return ok })
	default:
		t.Errorf("%s: Go kind %s has no schema mapping in this test", path, typ.Kind())
	}
}

func (root *schema) matchStruct(t *testing.T, typ reflect.Type, s *schema, path string) {
	t.Helper()
	if s.Type != "object" || s.AdditionalProperties == nil || *s.AdditionalProperties {
		t.Errorf("%s: schema must be an object with additionalProperties: false", path)
	}
	fields := yamlFields(typ)
	for _, name := range sortedKeys(fields) {
		if s.Properties[name] == nil {
			t.Errorf("%s: field %q is missing from schema.json", path, name)
			continue
		}
		root.match(t, fields[name], s.Properties[name], path+"."+name)
	}
	for _, name := range sortedKeys(s.Properties) {
		if _, ok := fields[name]; !ok {
			t.Errorf("%s: schema.json property %q is no field of %s", path, name, typ.Name())
		}
	}
	for _, name := range s.Required {
		if s.Properties[name] == nil {
			t.Errorf("%s: required %q is not a property", path, name)
		}
	}
}

// matchScalar checks that s has the JSON type want, or lists values of it.
func matchScalar(t *testing.T, s *schema, path, want string, ok func(any) bool) {
	t.Helper()
	values := s.Enum
	if s.Const != nil {
		values = append(values, s.Const)
	}
	if s.Type == want || s.Type == "" && len(values) > 0 {
		for _, v := range values {
			if !ok(v) {
				t.Errorf("%s: enum value %v is not a %s", path, v, want)
			}
		}
		return
	}
	t.Errorf("%s: schema type %q, want %q", path, s.Type, want)
}

func setOf[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestSchemaPatterns checks that the schema's patterns are those the
// validator uses, and the enums its lists.
func TestSchemaPatterns(t *testing.T) {
	t.Parallel()
	root := loadSchema(t)
	for def, re := range map[string]*regexp.Regexp{"id": idPattern, "scopeName": scopePattern, "keyId": keyIDPattern} {
		if got := root.Defs[def].Pattern; got != re.String() {
			t.Errorf("$defs/%s pattern %q, want the validator's %q", def, got, re)
		}
	}
	enum := func(s *schema) []string {
		var out []string
		for _, v := range root.resolve(t, s).Enum {
			out = append(out, fmt.Sprint(v))
		}
		sort.Strings(out)
		return out
	}
	checks := []struct {
		name string
		s    *schema
		want map[string]bool
	}{
		{"class kind", root.Defs["class"].Properties["kind"], classKinds},
		{"route method", root.Defs["route"].Properties["method"], routeMethods},
		{"issuer algorithms", root.Defs["issuer"].Properties["algorithms"].Items, jwtAlgorithms},
		{"detection kind", root.Defs["detection"].Properties["kind"], setOf(detectionKinds)},
		{"detection severity", root.Defs["detection"].Properties["severity"], severities},
		{"detection action", root.Defs["detection"].Properties["action"], ruleActions},
		{"ticket kind", root.Defs["ticket"].Properties["kind"], ticketKinds},
	}
	for _, c := range checks {
		if got, want := enum(c.s), sortedKeys(c.want); !slices.Equal(got, want) {
			t.Errorf("%s enum = %q, want %q", c.name, got, want)
		}
	}
}

// TestSchemaAcceptsExample checks the example policy against the schema
// with a validator for the keywords schema.json uses, and that documents
// Load rejects for shape are rejected by the schema too.
func TestSchemaAcceptsExample(t *testing.T) {
	t.Parallel()
	root := loadSchema(t)
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, data []byte) []string {
		t.Helper()
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v = jsonValue(t, v)
		var errs []string
		root.validate(t, v, root, "", &errs)
		return errs
	}
	if errs := check("example", data); len(errs) > 0 {
		t.Errorf("example policy does not match schema.json:\n%s", strings.Join(errs, "\n"))
	}
	for _, bad := range []string{
		with(0, "colour: blue"),
		with(3, "  - id: acme", "    limit: {rate: 5/fortnight}"),
		with(12, "    kind: gold"),
		with(18, "  - method: BREW"),
		with(29, "    sha256: abc"),
		with(0, "issuers: [{id: a, issuer: https://a.example, jwks: x, audiences: [a], algorithms: [none], tenants: [acme]}]"),
		with(0, "issuers: [{id: a, issuer: https://a.example, jwks: x, audiences: [a], algorithms: [EdDSA]}]"),
		with(0, "upstream_host: admin:s3cr3t@svc"),
		with(0, "audit: {mode: loud}"),
		with(1, "version: 2"),
		with(0, "detection: [{name: a, kind: guessing, severity: high}]"),
		with(0, "tickets: [{name: a, kind: webhook, url: ftp://x}]"),
	} {
		if errs := check("bad", []byte(bad)); len(errs) == 0 {
			t.Errorf("schema accepts a bad document:\n%s", numbered(bad))
		}
	}
	if errs := check("base", []byte(doc(base...))); len(errs) > 0 {
		t.Errorf("base document does not match schema.json:\n%s", strings.Join(errs, "\n"))
	}
}

// jsonValue turns a yaml value into what encoding/json would decode.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (root *schema) validate(t *testing.T, v any, s *schema, path string, errs *[]string) {
	t.Helper()
	s = root.resolve(t, s)
	fail := func(format string, args ...any) { *errs = append(*errs, path+": "+fmt.Sprintf(format, args...)) }
	if s.Const != nil && !reflect.DeepEqual(v, s.Const) {
		fail("%v is not %v", v, s.Const)
	}
	if s.Enum != nil && !slices.ContainsFunc(s.Enum, func(e any) bool { return reflect.DeepEqual(e, v) }) {
		fail("%v is not one of %v", v, s.Enum)
	}
	switch x := v.(type) {
	case map[string]any:
		root.validateObject(t, x, s, path, errs)
	case []any:
		if s.Type != "array" {
			fail("array, want %s", s.Type)
		}
		if s.MinItems != nil && len(x) < *s.MinItems || s.MaxItems != nil && len(x) > *s.MaxItems {
			fail("%d items out of range", len(x))
		}
		for i, e := range x {
			root.validate(t, e, s.Items, fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case string:
		if s.Type != "" && s.Type != "string" {
			fail("string, want %s", s.Type)
		}
		if s.Pattern != "" && !regexp.MustCompile(s.Pattern).MatchString(x) {
			fail("%q does not match %s", x, s.Pattern)
		}
		if s.MinLength != nil && len(x) < *s.MinLength {
			fail("%q is shorter than %d", x, *s.MinLength)
		}
		if _, err := time.Parse(time.RFC3339, x); s.Format == "date-time" && err != nil {
			fail("%q is not an RFC 3339 date-time", x)
		}
	case float64:
		if s.Type != "" && s.Type != "integer" && s.Type != "number" || s.Minimum != nil && x < *s.Minimum || s.Maximum != nil && x > *s.Maximum {
			fail("number %v not allowed", x)
		}
	case bool:
		if s.Type != "" && s.Type != "boolean" {
			fail("boolean, want %s", s.Type)
		}
	}
}

func (root *schema) validateObject(t *testing.T, x map[string]any, s *schema, path string, errs *[]string) {
	t.Helper()
	if s.Type != "object" {
		*errs = append(*errs, path+": object, want "+s.Type)
		return
	}
	for _, r := range s.Required {
		if _, ok := x[r]; !ok {
			*errs = append(*errs, path+": missing "+r)
		}
	}
	for _, k := range sortedKeys(x) {
		p := s.Properties[k]
		if p == nil {
			if s.AdditionalProperties != nil && !*s.AdditionalProperties {
				*errs = append(*errs, path+": unknown property "+k)
			}
			continue
		}
		root.validate(t, x[k], p, path+"/"+k, errs)
	}
}
