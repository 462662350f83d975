package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestAlertsOutputMovesNoCursor: alerts show and list print text a client
// or an etcd writer chose (request ids, an acknowledgement's actor and
// note, a closure's corrective action). The table and text outputs print
// it as one line of printable text (alert.PlainText, as approvals show
// does); the JSON output escaped C0 controls only, so a C1 control (U+009B
// is CSI, which terminals that take C1 controls in UTF-8 act on), DEL or a
// bidirectional override reached the terminal as it was. It is now
// escaped as \uXXXX too, and the JSON still decodes to the trail's text.
func TestAlertsOutputMovesNoCursor(t *testing.T) {
	t.Parallel()
	const hostile = "x\x1b[2J\u009b2J\u202e\x7f\u2028\nforged-line"
	dir := t.TempDir()
	data := filepath.Join(dir, "audit")
	st, det := openDetection(t, context.Background(), data, signingKey(t), examplePolicy, nil)
	now := time.Now().UTC()
	appendBatch(t, st, "g", guesses(now.Add(-time.Minute), time.Millisecond, "acmehris1", "203.0.113.9", hostile))
	id := alertID(t, det, "token-guessing-client", "")
	for _, ev := range []collector.Event{
		{Time: now, ClaimedTime: now, Actor: hostile, Action: "alert.ack", Target: id, Reason: hostile},
		{Time: now, ClaimedTime: now, Actor: hostile, Action: "alert.close", Target: id, Reason: hostile, Details: json.RawMessage(`{"corrective_action":` + mustJSON(t, hostile) + `}`)},
	} {
		if err := st.AppendEvents([]collector.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	forged := regexp.MustCompile(`(?m)^forged-line`)
	for _, args := range [][]string{{"alerts", "show", id}, {"alerts", "list"}} {
		for _, format := range []string{"table", "json"} {
			r := portcullis(t, "", nil, append(args, "--data", data, "--format", format)...)
			shows := args[1] == "show" || format == "json" // the list's table has no field of text
			if r.code != 0 || shows && !strings.Contains(r.stdout, "forged-line") {
				t.Fatalf("%q --format %s: exit %d\n%s\n%s", args, format, r.code, r.stdout, r.stderr)
			}
			if strings.ContainsAny(r.stdout, "\x1b\u009b\u202e\x7f\u2028") || forged.MatchString(r.stdout) {
				t.Errorf("%q --format %s printed a control character or a line of its own:\n%q", args, format, r.stdout)
			}
			if format != "json" {
				continue
			}
			var v any
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
				t.Fatalf("%q --format json: %v", args, err)
			}
			if !strings.Contains(mustJSONAny(t, v), mustJSON(t, hostile)[1:20]) {
				t.Errorf("%q --format json does not hold the trail's text %q", args, hostile)
			}
		}
	}
}

func mustJSON(t *testing.T, s string) string {
	t.Helper()
	return mustJSONAny(t, s)
}

// mustJSONAny is v encoded as encoding/json does, without the escaping
// of printJSON.
func mustJSONAny(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
