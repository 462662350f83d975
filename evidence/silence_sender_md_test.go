package evidence

import (
	"strings"
	"testing"
	"time"
)

// A sender's name is its certificate's identity (collector certIdentity:
// a URI SAN, DNS SAN or common name, any bytes a CA signed) and the pod a
// batch names is its sender's to write. The silence line that names them
// goes into the Markdown of the checklist and the retention file, above
// the answers' table: a line break in either wrote rows of its own there
// (a question answered Yes), and a [text](url) a link. Both are now
// written as a table cell is (mdCell).
func TestSilenceLineEscapesSenderAndPod(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	const evil = "cert:x\n\n| Is token creation approved and logged? | Yes | [ok](https://evil.example) |"
	sc := sidecar{pod: "pod-a\n| injected |", sender: evil}
	b := &builder{}
	b.senders.pods = map[sidecar]*podBatches{sc: {first: day.Add(time.Hour), last: day.Add(2 * time.Hour)}}
	clip := func(l liveSpan, from, to time.Time) (time.Time, time.Time, bool) {
		a, z := l.from, l.to
		if from.After(a) {
			a = from
		}
		if to.Before(z) {
			z = to
		}
		return a, z, z.Sub(a) > time.Minute
	}
	line := b.senderSilence(sc, []liveSpan{{from: day, to: day.Add(24 * time.Hour)}}, clip, day.Add(24*time.Hour))
	if line == "" {
		t.Fatal("no silence line")
	}
	if strings.ContainsAny(line, "\n\r") || strings.Contains(line, "[ok](") || strings.Contains(line, " | Yes |") {
		t.Errorf("silence line %q carries the sender's or pod's Markdown as it is", line)
	}
}
