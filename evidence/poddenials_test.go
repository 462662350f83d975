package evidence

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Finding (the last notes' per-pod sidecar_first_denial cells): the
// RevocationRecords row of each live sidecar listed, in its
// sidecar_first_denial cell, every first denial of the senders whose
// records named that pod, and a pod past the first maxPods every one kept
// for the pods past them. With a sender for each of 5,000 pods (mTLS
// senders, one certificate a pod), each of the 4,000 rows of the pods past
// the first 1,000 held 4,000 entries, over 200 KB a cell. A cell now
// holds what fits a spreadsheet's, the rest counted, and a pod past the
// first maxPods the earliest of theirs with the count.
func TestPodDenialCellsBounded(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	by := map[sidecar]time.Time{}
	const senders = 4000
	for i := range senders {
		by[sidecar{morePods, fmt.Sprintf("cert:spiffe://cluster.local/ns/payments/sa/pod-%05d", i)}] = at.Add(time.Duration(senders-i) * time.Millisecond)
		// Senders claiming one live pod's name.
		by[sidecar{"api-0", fmt.Sprintf("cert:spiffe://cluster.local/ns/payments/sa/claimant-%05d", i)}] = at.Add(time.Duration(i) * time.Millisecond)
	}
	b := &builder{tally: &tally{firstBy: map[int]map[sidecar]time.Time{0: by}}}

	past := b.podDenials(0, "api-4711")
	earliest := fmt.Sprintf("%s (cert:spiffe://cluster.local/ns/payments/sa/pod-%05d)", rfc(at.Add(time.Millisecond)), senders-1)
	if !strings.HasPrefix(past, earliest) || !strings.Contains(past, fmt.Sprintf("of %d senders", senders)) || !strings.Contains(past, morePods) {
		t.Errorf("a pod past the first %d: cell of %d characters %.200q..., want the earliest %q, the count %d and %q", maxPods, len(past), past, earliest, senders, morePods)
	}
	if len(past) > 300 {
		t.Errorf("a pod past the first %d: cell of %d characters, want one entry and its count", maxPods, len(past))
	}

	own := b.podDenials(0, "api-0")
	listed, more := strings.Count(own, "claimant-"), 0
	if i := strings.LastIndex(own, " and "); i >= 0 {
		fmt.Sscanf(own[i:], " and %d more", &more)
	}
	if len([]rune(own)) > maxCellChars || listed+more != senders || !strings.HasPrefix(own, rfc(at)+" (") {
		t.Errorf("a pod claimed by %d senders: cell of %d characters listing %d and %d more, starting %.80q; want at most %d characters, %d in all, earliest first",
			senders, len([]rune(own)), listed, more, own, maxCellChars, senders)
	}
}
