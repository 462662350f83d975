package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestAlertsShowUnknownIDSaysOneLine: alerts show of an id the store does
// not hold printed its error and then the note that nothing was verified
// (no --public-key), two lines for one mistake; with a key the store
// fails, the not-found line was followed by the whole verification
// report. It is one line now, naming the id and the store, and with a
// store that failed verification saying so on that line.
func TestAlertsShowUnknownIDSaysOneLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := auditStore(t, dir)
	appendBatch(t, store, "b1", guesses(time.Now().UTC().Add(-time.Minute), 100*time.Millisecond, "acmehris1", "203.0.113.9", "r"))
	store.Close()
	otherKey, _ := signingKeyFile(t) // not the store's: every entry fails its signature
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, `portcullis alerts show: no alert "alert-nope" in the store in "` + dir + `"`},
		{[]string{"--public-key", otherKey + ".pub", "--allow-unsigned-tail", "1h"}, "the store failed verification"},
	} {
		var out, errOut bytes.Buffer
		code := alertsShow(append([]string{"alert-nope", "--data", dir}, c.args...), &out, &errOut)
		if code != 1 || strings.Count(errOut.String(), "\n") != 1 || !strings.Contains(errOut.String(), c.want) || out.Len() != 0 {
			t.Errorf("alerts show alert-nope %q = exit %d, stderr %q; want exit 1 and one line with %q", c.args, code, errOut.String(), c.want)
		}
	}
}
