package audit

import "net/netip"

// Aggregation of denials without a credential (issue 21 item 10): a flood
// of 401s from the internet (80k requests/s filled a 256 MiB spool in
// seconds) must not push out the records of real callers. While the spool
// is above half full, the emitter keeps one record per source address,
// route, reason and second, the first of them, with Count set to how many
// there were: exact, not sampled. A record with a credential (an API key
// id, a JWT fingerprint, an auth method) is never folded.

// aggGraceSeconds is how long a second stays open for late records (a
// record is captured when its response is written, up to its duration
// after its time).
const aggGraceSeconds = 2

// maxAggKeys bounds the open groups; past it records pass unfolded.
const maxAggKeys = 4096

type aggKey struct {
	src      netip.Addr
	route    string
	decision Decision
	sec      int64
}

// aggregator folds records by aggKey; the batcher goroutine owns it.
type aggregator struct {
	idx  map[aggKey]int
	recs []Record
}

// foldable reports whether r is a denial without a credential.
func foldable(r *Record) bool {
	return r.Decision != Allowed && r.AuthMethod == AuthNone && r.keyIDLen == 0 &&
		r.TokenFingerprint == [16]byte{} && r.Issuer == "" && r.Count <= 1
}

// What add did with a record.
const (
	notFolded = iota // not foldable, or no room: the caller sends it
	opened           // it opened a group
	folded           // it was counted in an open group
)

// add folds r into its group (copying it when it opens one).
func (a *aggregator) add(r *Record) int {
	if !foldable(r) {
		return notFolded
	}
	k := aggKey{src: r.SourceIP, route: r.Route, decision: r.Decision, sec: floorSecond(r.Time)}
	if i, ok := a.idx[k]; ok {
		a.recs[i].Count++
		return folded
	}
	if len(a.recs) >= maxAggKeys {
		return notFolded
	}
	if a.idx == nil {
		a.idx = make(map[aggKey]int)
	}
	a.idx[k] = len(a.recs)
	a.recs = append(a.recs, Record{})
	r.CopyTo(&a.recs[len(a.recs)-1])
	a.recs[len(a.recs)-1].Count = 1
	return opened
}

// flush hands every group of a second before sec to emit, oldest kept
// order, and forgets them.
func (a *aggregator) flush(sec int64, emit func(*Record)) {
	kept := a.recs[:0]
	for i := range a.recs {
		if floorSecond(a.recs[i].Time) < sec {
			emit(&a.recs[i])
			continue
		}
		kept = append(kept, a.recs[i])
	}
	if len(kept) == len(a.recs) {
		return
	}
	clear(a.recs[len(kept):])
	a.recs = kept
	clear(a.idx)
	for i := range a.recs {
		r := &a.recs[i]
		a.idx[aggKey{src: r.SourceIP, route: r.Route, decision: r.Decision, sec: floorSecond(r.Time)}] = i
	}
}

func floorSecond(ns int64) int64 {
	s := ns / 1e9
	if ns < 0 && ns%1e9 != 0 {
		s--
	}
	return s
}
