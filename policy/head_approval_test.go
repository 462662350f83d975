package policy

import (
	"os"
	"strings"
	"testing"
)

// A HEAD route runs the GET handler of the route it overlaps (services
// answer a HEAD with their GET handler), so it must require as much of an
// approval as that GET: one inherited from the class and overridden on
// the HEAD with {required: false}, or a HEAD grant of a thousand uses
// beside a GET of one, let one operator's push run the handler without a
// second person, or a thousand times on one grant. Before, only a GET's
// own approval was compared, and only whether the HEAD had one at all.
func TestHeadRouteHeldToItsGetsApproval(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	const get = "  - {method: GET, path: \"/v1/exports/{id}\", class: bulk, scopes: [export:data]%s}\n"
	const head = "  - {method: HEAD, path: \"/v1/exports/{id}\", class: bulk, scopes: [export:data]%s}\n"
	for _, c := range []struct{ name, class, get, head, want string }{
		{"class approval overridden off", ", approval: {required: true}", "", ", approval: {required: false}", "without the approval it requires"},
		{"more uses than the GET's own", "", ", approval: {required: true, max_uses: 1}", ", approval: {required: true, max_uses: 1000}", "with an approval of 1000 use(s) within 1h0m0s, more than its 1 within 1h0m0s"},
		{"longer than the class's", ", approval: {required: true, max_age: 1h}", "", ", approval: {required: true, max_age: 168h}", "more than its 1 within 1h0m0s"},
		{"as the class's", ", approval: {required: true}", "", "", ""},
		{"tighter", "", ", approval: {required: true, max_uses: 5}", ", approval: {required: true, max_uses: 2, max_age: 10m}", ""},
	} {
		doc := strings.Replace(string(raw), "    concurrency: {max: 2, queue: 2, max_wait: 2s}\n", "    concurrency: {max: 2, queue: 2, max_wait: 2s}\n    "+strings.TrimPrefix(c.class, ", ")+"\n", 1)
		if c.class == "" {
			doc = string(raw)
		}
		doc = strings.Replace(doc, "routes:\n", "routes:\n"+strings.Replace(get, "%s", c.get, 1)+strings.Replace(head, "%s", c.head, 1), 1)
		// Load takes it (a document that loaded before an upgrade loads
		// after it: TestPushRulesDoNotStopALoadedDocument); the push
		// refuses it.
		d, err := Load("p.yaml", []byte(doc))
		if err != nil {
			t.Errorf("%s: Load = %v; want it loaded", c.name, err)
			continue
		}
		err = CheckPush("p.yaml", []byte(doc), d)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: CheckPush = %v; want it pushed", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), "route HEAD /v1/exports/{id} is checked less than route GET /v1/exports/{id}") || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: CheckPush = %v; want the HEAD route refused %s", c.name, err, c.want)
		}
	}
}

// TestPushRulesDoNotStopALoadedDocument: the rules added after documents
// breaking them had loaded (a tenant id that is another's followed by
// '.', a HEAD route requiring less of an approval than its GET) are
// CheckPush's, not Load's. Found by the final read (read78): with them in
// Load, a sidecar started on the new binary refused the policy in etcd
// and its own last-known-good copy, both loaded the day before, and
// served nothing; rolling a fleet onto it stopped the fleet.
func TestPushRulesDoNotStopALoadedDocument(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(raw), "tenants:\n", "tenants:\n  - {id: acme.eu, name: Acme Europe}\n", 1)
	doc = strings.Replace(doc, "routes:\n", "routes:\n"+
		"  - {method: GET, path: \"/v1/exports/{id}\", class: bulk, scopes: [export:data], approval: {required: true, max_uses: 1}}\n"+
		"  - {method: HEAD, path: \"/v1/exports/{id}\", class: bulk, scopes: [export:data], approval: {required: true, max_uses: 1000}}\n", 1)
	d, err := Load("p.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("Load = %v; want the document that loaded before this release loaded", err)
	}
	if _, err := Compile(d, Live{}); err != nil {
		t.Fatalf("Compile = %v; want it compiled", err)
	}
	err = CheckPush("p.yaml", []byte(doc), d)
	for _, want := range []string{`tenant id "acme.eu" is tenant "acme" followed by '.'`, "route HEAD /v1/exports/{id} is checked less than route GET /v1/exports/{id}"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckPush = %v; want it to say %q", err, want)
		}
	}
}
