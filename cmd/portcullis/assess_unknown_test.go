package main

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestIncidentAssessSaysTheClientIsUnknown: incident assess of a client
// the policy does not name (a typo, a prefix such as globex for
// globex-bi) printed the same empty report as a known client that made
// no request, so an incident read as "it did nothing". It now says the
// client is not in the policy, on stdout and stderr, and whether the
// trail holds records of it anyway (one a sidecar stored under an id
// the policy no longer has).
func TestIncidentAssessSaysTheClientIsUnknown(t *testing.T) {
	dir := t.TempDir()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	rec := collector.StoredRecord{Time: time.Now().UTC(), Tenant: "acme", Client: "acme-old", Method: "GET", Route: "/v1/users", Path: "/v1/users",
		Status: 200, Decision: "allowed", RequestID: "r-1"}
	if err := store.AppendBatch(&collector.Batch{ID: "a-1", Sender: "token:fleet", Records: []collector.StoredRecord{rec}}); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ client, want, not string }{
		{"globex", "the trail holds no record of it in the range", ""},
		{"acme-old", "the trail holds 1 requests of it in the range", ""},
		{"acme-hris", "known\n", "not in the policy"},
	} {
		var out, errOut bytes.Buffer
		incidentAssess([]string{"--client", tt.client, "--data", dir, "--policy", examplePolicy}, &out, &errOut)
		text := out.String() + errOut.String()
		if !strings.Contains(out.String(), tt.want) {
			t.Errorf("incident assess --client %s does not say %q:\n%s", tt.client, tt.want, text)
		}
		if tt.not == "" && !strings.Contains(errOut.String(), `warning: client "`+tt.client+`" is not in the policy`) {
			t.Errorf("incident assess --client %s warned nothing on stderr:\n%s", tt.client, &errOut)
		}
		if tt.not != "" && strings.Contains(text, tt.not) {
			t.Errorf("incident assess --client %s says %q:\n%s", tt.client, tt.not, text)
		}
	}
}
