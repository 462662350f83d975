package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// vanished follows, for a read that lists the store and then opens its
// segments one by one (QueryRecords, QueryEvents, ScanEntries and a
// ReadStore that does not verify), the listed segments gone at their
// open. A running collector's retention pass deletes a segment after
// writing the retention entry that accounts for it into the open segment,
// read later: audit query beside a live collector failed with "cannot open
// segment" on an intact trail (TestRetentionDuringQueryIsRetention). A
// vanished segment is skipped, as verify judges it (checkSegment), when
// a retention entry read after it names it, or when its digest closed it
// longer ago than the retention its store's head records (the entry went
// into a segment past the listing); one that vanished otherwise is still
// an error, at the end of the read. What it reads is not verified: the
// readers it serves have no key.
type vanished struct {
	dir     string
	gone    []uint64         // listed, gone at the open, not yet accounted for
	errs    map[uint64]error // the open's error of each
	expired map[uint64]bool  // segments the retention entries read since name
}

// note takes err, the error opening listed segment n, and reports whether
// the segment was gone, so noted to be accounted for by the read's end.
func (g *vanished) note(n uint64, err error) bool {
	if !errors.Is(err, os.ErrNotExist) {
		return false
	}
	if g.errs == nil {
		g.errs, g.expired = map[uint64]error{}, map[uint64]bool{}
	}
	g.gone, g.errs[n] = append(g.gone, n), err
	return true
}

// lines wraps fn, a segment's line function, to note the retention
// entries among its lines once a segment has vanished.
func (g *vanished) lines(fn func(i int, line []byte) error) func(i int, line []byte) error {
	return func(i int, line []byte) error {
		if len(g.gone) > 0 && isKind(line, KindRetention) {
			g.retention(line)
		}
		return fn(i, line)
	}
}

// retention notes the segment the retention entry of line names.
func (g *vanished) retention(line []byte) {
	var l entryLine
	var b struct {
		Kind    string `json:"kind"`
		Segment uint64 `json:"segment"`
	}
	if decodeEntryLine(line, &l) == nil && json.Unmarshal(l.Body, &b) == nil && b.Kind == KindRetention {
		g.expired[b.Segment] = true
	}
}

// check returns the error of the first vanished segment neither a
// retention entry read nor the store's retention at now accounts for.
func (g *vanished) check(now time.Time) error {
	for _, n := range g.gone {
		if g.expired[n] || g.due(n, now) {
			continue
		}
		return fmt.Errorf("%w: it was deleted while read, and no retention entry or the store's retention accounts for it", g.errs[n])
	}
	return nil
}

// due reports whether segment n closed, by its digest, longer ago at now
// than the retention recorded in the store's head (within
// RetentionClockSkew of the collector's clock).
func (g *vanished) due(n uint64, now time.Time) bool {
	set, err := ReadRetention(g.dir, nil)
	if err != nil || !set.Recorded || set.Retention <= 0 {
		return false
	}
	data, err := readRegular(filepath.Join(g.dir, digestName(n)), maxDocBytes)
	if err != nil {
		return false
	}
	var d signedDoc
	var sd segmentDigest
	if json.Unmarshal(data, &d) != nil || json.Unmarshal(d.Payload, &sd) != nil || sd.End.IsZero() {
		return false
	}
	return now.Sub(sd.End) >= set.Retention-RetentionClockSkew
}
