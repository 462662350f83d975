package policy

import (
	"strings"
	"testing"
)

// TestNewUserMistakesNameTheField holds the messages of the mistakes a new
// user makes to the field they are in: a wrong type said only "cannot
// unmarshal !!str `ten` into int64", naming neither the field nor what it
// wants; an unknown field did not say which one was meant; a route without
// a class said `unknown class ""`.
func TestNewUserMistakesNameTheField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"string for an integer", with(25, "    scopes: [read:users]", "    limit: {rate: 5/s, burst: ten}"),
			[]string{`p.yaml:26: burst: want an integer, got "ten"`}},
		{"two wrong types on one line", with(25, "    scopes: [read:users]", "    limit: {rate: 5/s, burst: ten, scope: [x]}"),
			[]string{`p.yaml:26: burst: want an integer, got "ten"`, `p.yaml:26: scope: want a single value, got a list`}},
		{"quoted version", with(1, `version: "1"`),
			[]string{`p.yaml:1: version: want an integer, got the quoted string "1" (write it without quotes)`}},
		{"string for a list", with(25, "    scopes: read:users"),
			[]string{`p.yaml:25: scopes: want a list, got "read:users" (write [read:users])`}},
		{"list for a mapping", with(25, "    scopes: [read:users]", "    limit: [5/s]"),
			[]string{`p.yaml:26: limit: want a mapping, got a list`}},
		{"list in a list of names", with(25, "    scopes: [read:users, [a, b]]"),
			[]string{`p.yaml:25: scopes item: want a single value, got a list`}},
		{"typo in a field", with(20, "    clas: standard"),
			[]string{`p.yaml:20: field clas not found in RouteSpec (did you mean class?)`}},
		{"route without a class", with(20),
			[]string{`p.yaml:18: route GET /v1/users: class is missing (one of admin, standard)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load("p.yaml", []byte(tt.doc))
			if err == nil {
				t.Fatal("loaded")
			}
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
