package evidence

import (
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestCredentialScanCoversEveryFileOfThePack: a full API key sits in the
// store in places the record scan once skipped: a lifecycle event's
// reason (an operator revoking a leaked key pastes it: `keys revoke
// --reason`, and --actor) and a record's tenant. The pack copies the
// tenant into the throttling sample (the index's tenant chart counts a
// tenant no policy names under "(not in policy)"); the scan reads every
// file the pack writes, as bytes, so it FAILS, naming each file and the
// kind of credential, never the credential. (An outside review found it
// said PASS.) The event's reason and actor the pack prints cleared
// (clearOperatorText, TestPackPrintsOperatorTextCleared): the token
// lifecycle log and the index's timeline no longer hold the key.
func TestCredentialScanCoversEveryFileOfThePack(t *testing.T) {
	const leaked = "pk_acmehris1_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	at := func(d, h int) time.Time { return time.Date(2026, 5, d, h, 0, 0, 0, time.UTC) }
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	r := collector.StoredRecord{Time: at(3, 9), Tenant: leaked, Client: "acme-hris", Method: "GET", Route: "/v1/users",
		Path: "/v1/users", Status: 429, Decision: "rate_limited", RequestID: "r-1", SourceIP: "192.0.2.7"}
	if err := st.AppendBatch(&collector.Batch{ID: "b1", Sender: "token:s1", Records: []collector.StoredRecord{r}}); err != nil {
		t.Fatal(err)
	}
	revoke := collector.Event{Time: at(10, 12), Key: "/p/events/1", Revision: 41, Actor: "alice " + leaked, Action: "key.revoke",
		Target: "acmehris1", Reason: "leaked in ticket SEC-9: " + leaked, Ticket: "SEC-9"}
	if err := st.AppendEvents([]collector.Event{revoke}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2026-Q2")
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: out, SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	scanName := FileName("APILogging", "CredentialScan", p.Name, "md")
	scan, _ := os.ReadFile(filepath.Join(res.Dir, scanName))
	var holding []string
	ents, _ := os.ReadDir(res.Dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(res.Dir, e.Name()))
		if strings.Contains(string(b), leaked) {
			holding = append(holding, e.Name())
		}
	}
	if strings.Contains(string(scan), "Result: PASS") && len(holding) > 0 {
		t.Fatalf("the credential scan says PASS, yet the signed pack carries the API key in %v", holding)
	}
	// Reported, not altered: the pack keeps a record's text, and its scan
	// names every file that holds it; an event's operator text it prints
	// cleared.
	lifecycle, throttling := FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv"), FileName("APIRateLimits", "ThrottlingSample", p.Name, "csv")
	if !slices.Contains(holding, throttling) {
		t.Errorf("%s does not hold the key (files holding it: %v); the test no longer covers it", throttling, holding)
	}
	for _, clear := range []string{lifecycle, IndexFile} {
		if slices.Contains(holding, clear) {
			t.Errorf("%s holds the key of an event's reason or actor, printed as the trail holds it", clear)
		}
	}
	wants := []string{"Result: FAIL", "Records scanned: 1. Records matching a credential pattern: 1.",
		"Lifecycle events scanned: 1. Events matching a credential pattern: 1.",
		"| 2026-05-10T12:00:00Z | 41 | \"key.revoke\" | \"acmehris1\" | API key |",
		"| 2026-05-03T09:00:00Z | \"r-1\" | \"token:s1\" | API key |"}
	for _, f := range holding {
		wants = append(wants, "| "+f+" | API key | ")
	}
	for _, want := range wants {
		if !strings.Contains(string(scan), want) {
			t.Errorf("credential scan lacks %q:\n%s", want, scan)
		}
	}
	if slices.Contains(holding, scanName) || strings.Contains(string(scan), "AbCdEfGhIjKlMnOp") {
		t.Errorf("the credential scan copies the key:\n%s", scan)
	}
	warned := strings.Join(res.Warnings, "\n")
	if !strings.Contains(warned, "the credential scan FAILED: the pack's files hold ") || !strings.Contains(warned, "API key in "+throttling) ||
		!strings.Contains(warned, "the credential scan FAILED: 1 records and 1 lifecycle events of the period hold a credential") ||
		strings.Contains(warned, "AbCdEfGhIjKlMnOp") {
		t.Errorf("warnings %q do not name the files holding the key, or copy it", res.Warnings)
	}
	if problems, err := VerifyZip(res.Zip, key.Public().(ed25519.PublicKey)); err != nil || len(problems) > 0 {
		t.Errorf("the pack does not verify: %v %v", problems, err)
	}
}

// TestScanReadsEveryRecordText: every string field of a stored record
// and of a lifecycle event, an attribute and a flag, holding a key, is
// found by the record and event scan; a field added to either struct
// fails here until the scan reads it.
func TestScanReadsEveryRecordText(t *testing.T) {
	const leaked = "pk_acmehris1_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
	var tl tally
	rt := reflect.TypeFor[collector.StoredRecord]()
	for i := range rt.NumField() {
		f := rt.Field(i)
		var r collector.StoredRecord
		switch v := reflect.ValueOf(&r).Elem().Field(i); {
		case f.Type.Kind() == reflect.String:
			v.SetString(leaked)
		case f.Name == "Attributes":
			r.Attributes = map[string]string{"x": leaked}
		case f.Name == "Flags":
			r.Flags = []string{leaked}
		default:
			continue
		}
		before := tl.scanHits
		tl.scan(&r)
		if tl.scanHits != before+1 {
			t.Errorf("a key in the record's %s is not found by the scan", f.Name)
		}
	}
	et := reflect.TypeFor[collector.Event]()
	for i := range et.NumField() {
		f := et.Field(i)
		b := &builder{events: make([]collector.Event, 1), tally: &tally{}}
		switch v := reflect.ValueOf(&b.events[0]).Elem().Field(i); {
		case f.Type.Kind() == reflect.String:
			v.SetString(leaked)
		case f.Name == "Details":
			b.events[0].Details, _ = json.Marshal(map[string]string{"note": leaked})
		default:
			continue
		}
		b.tally.addEvent(b, 0, entryPos{})
		if b.tally.eventHits != 1 {
			t.Errorf("a key in the event's %s is not found by the scan", f.Name)
		}
	}
}
