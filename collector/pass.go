package collector

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"
)

// Pass says what ReadStore feeds from one read of a store: what
// QueryRecords, QueryEvents and VerifyWith would each read the whole
// store for (three reads of 3.8 GB for the evidence pack of 10 million
// records: BenchmarkPack in package evidence, issue 15).
type Pass struct {
	// Filter selects the records Records is called with.
	Filter Filter
	// Records, when set, is called for every record Filter matches, in
	// storage order, as QueryRecords calls its fn, with the entry that
	// holds it. Neither e nor r is valid after the call.
	Records func(e *Entry, r *StoredRecord) error
	// Events, when set, is called for every lifecycle event, in storage
	// order, as QueryEvents calls its fn with open bounds. Neither e nor
	// ev is valid after the call.
	Events func(e *Entry, ev *Event) error
	// Segments, when set, limits the pass to the segment files it accepts
	// (a second look at a few segments after a first pass). It cannot be
	// combined with VerifyKey: a chain is verified whole.
	Segments func(n uint64) bool
	// VerifyKey, when set, verifies the store from the same bytes as
	// VerifyWith(dir, VerifyKey, Verify) does, with the same report.
	VerifyKey ed25519.PublicKey
	Verify    VerifyOptions
	// MarkVerified, with VerifyKey, sets Entry.Verified for each entry
	// given to Records and Events: it costs a signature check an entry.
	MarkVerified bool
}

// ReadStore reads the store in dir once, segment by segment, calling p's
// Records and Events and, with p.VerifyKey, verifying it; it returns the
// verification report (nil without p.VerifyKey). It fails as QueryRecords
// or QueryEvents would (no store, a segment that cannot be read, an error
// of a callback), and then returns no report. Memory stays bounded
// whatever the store's size: lines stream through, records are decoded
// into the slice of the entry before.
func ReadStore(dir string, p Pass) (*VerifyReport, error) {
	if p.VerifyKey != nil && p.Segments != nil {
		return nil, fmt.Errorf("collector: ReadStore of %q: a pass that verifies reads every segment", dir)
	}
	segs, digests, err := listStore(dir)
	if err != nil {
		return nil, err
	}
	return readListed(dir, p, segs, digests)
}

// readListed is ReadStore of the segments and digests listed. A pass that
// does not verify skips a listed segment gone at its open when retention
// accounts for it (vanished), as verify does.
func readListed(dir string, p Pass, segs, digests []uint64) (*VerifyReport, error) {
	s := &passScan{dir: dir, p: &p, segs: segs, headSeq: unverifiedHeadSeq(dir)}
	if p.VerifyKey != nil {
		rep, err := verifyWith(dir, p.VerifyKey, p.Verify, segs, digests, s)
		if err == nil {
			err = s.err
		}
		if err != nil {
			return nil, err
		}
		return rep, nil
	}
	g := vanished{dir: dir}
	for _, n := range segs {
		if p.Segments != nil && !p.Segments(n) {
			continue
		}
		s.start(n, trustedLimit(dir, n))
		_, _, err := segmentLines(filepath.Join(dir, segName(n)), g.lines(s.line))
		if err != nil && !g.note(n, err) {
			return nil, err
		}
	}
	now := p.Verify.Now
	if now.IsZero() {
		now = time.Now()
	}
	return nil, g.check(now)
}

// passScan is the scanning half of a pass: what scanEntries does with
// each line, for records and events at once.
type passScan struct {
	dir     string
	p       *Pass
	segs    []uint64
	headSeq uint64
	// reuse holds the interned strings of the scan (and, for a pass that
	// does not verify, the records of the entry before).
	reuse bodyBuffers
	err   error // the first error; it ends the pass

	keys  *keyRing // the store's keys, as the verifier read them
	n     uint64   // the segment being read
	limit int      // its trusted lines (trustedLimit), -1 for all
	last  bool     // whether it is the newest segment file

	cur lineEntry // the line being read, for a pass that does not verify
}

// lineEntry is a line as the scan decoded it.
type lineEntry struct {
	use               bool // the scan yields the entry
	verified          bool // the verifier checked it (Entry.Verified)
	asBatch, asEvents bool // its records go to Records, its events to Events
	// fast says the fast decoder read the batch body, so that
	// verification takes it instead of decoding it again.
	fast bool
	body entryBody
	recs []StoredRecord // the records of the line before in this slot, reused
}

// start begins segment n, of which limit lines belong to the chain (-1:
// all); a nil scan does nothing. A pass that verifies takes the limit of
// the digest the collector signed only: one written by anyone else hid
// the lines after its limit from audit query (TestScanVerifiedEntriesAgreesWithVerify).
func (s *passScan) start(n uint64, limit int) {
	if s == nil {
		return
	}
	s.n, s.limit, s.last = n, limit, n == s.segs[len(s.segs)-1]
}

// line handles line i of the current segment as scanEntries does for
// QueryRecords (kind batch) and QueryEvents (kind events).
func (s *passScan) line(i int, line []byte) error {
	s.decodeLine(i, line, &s.cur)
	return s.emit(i, &s.cur)
}

// decodeLine decodes line i of the current segment into le, as
// scanEntries does: batches into le's records of the line before
// (QueryRecords' reuse), events on their own (QueryEvents'). It touches
// nothing of s but the interned strings, so it can run ahead of emit
// (decodeBlocks).
func (s *passScan) decodeLine(i int, line []byte, le *lineEntry) {
	le.use, le.fast = false, false
	if s.limit >= 0 && i >= s.limit {
		return
	}
	le.asBatch = s.p.Records != nil && isKind(line, KindBatch)
	le.asEvents = s.p.Events != nil && (isKind(line, KindEvents) || isKind(line, KindBatch) && hasEvents(line)) // a batch's alert events (issue 14)
	if !le.asBatch && !le.asEvents {
		return
	}
	var l entryLine
	if decodeEntryLine(line, &l) != nil || s.decode(l.Body, le) != nil {
		return
	}
	le.use = !(s.headSeq > 0 && le.body.Seq > s.headSeq && s.last) || s.signed(&l)
}

// signed reports whether a pass that verifies finds line l signed by the
// collector's key. Such an entry is shown past the signed head: the
// verifier vouches for it (checkTailEntry), and a head.json put back from
// an older copy, signed too, hid every entry after it in the newest
// segment (TestOlderHeadHidesNoSignedEntry). Only the unsigned tail,
// which anyone who can write the store can append, stays hidden.
func (s *passScan) signed(l *entryLine) bool {
	if s.p.VerifyKey == nil || s.keys == nil {
		return false
	}
	h, ok := parseHash(l.Hash)
	return ok && l.signedBy(s.keys.at(s.n), h)
}

// decode decodes a body into le.body.
func (s *passScan) decode(body []byte, le *lineEntry) error {
	b := &le.body
	if !le.asBatch {
		*b = entryBody{}
		return decodeBody(body, b, nil)
	}
	if isKind(body, KindBatch) {
		var fast entryBody
		reuse := bodyBuffers{recs: le.recs, intern: s.reuse.intern, table: s.reuse.table}
		ok := decodeBatchBodyInto(body, &fast, &reuse)
		le.recs, s.reuse.intern, s.reuse.table = reuse.recs, reuse.intern, reuse.table
		if ok {
			*b, le.fast = fast, true
			return nil
		}
	}
	*b = entryBody{}
	return json.Unmarshal(body, b)
}

// emit calls the pass's functions with the entry of line i, as decoded
// into le.
func (s *passScan) emit(i int, le *lineEntry) error {
	if !le.use {
		return nil
	}
	b := &le.body
	e := &Entry{Segment: s.n, Index: i, Seq: b.Seq, Kind: b.Kind, Time: b.Time, BatchID: b.BatchID,
		Sender: b.Sender, Service: b.Service, Host: b.Host, Instance: b.Instance, Pod: b.Pod, BoundTenants: b.BoundTenants, Records: b.Records, Events: b.Events,
		ExpiredSegment: b.Segment, ExpiredThrough: b.ExpiredThrough, Verified: le.verified && s.p.MarkVerified}
	if le.asBatch {
		if err := s.records(e); err != nil {
			return err
		}
	}
	if le.asEvents {
		return s.events(e)
	}
	return nil
}

func (s *passScan) records(e *Entry) error {
	for i := range e.Records {
		e.Records[i].Sender, e.Records[i].Pod, e.Records[i].Received = e.Sender, e.Pod, e.Time
		e.Records[i].SenderBound = e.BoundTenants != ""
		e.Records[i].BoundTenants = e.BoundTenants
		if s.p.Filter.Match(&e.Records[i]) {
			if err := s.p.Records(e, &e.Records[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *passScan) events(e *Entry) error {
	for i := range e.Events {
		if err := s.p.Events(e, &e.Events[i]); err != nil {
			return err
		}
	}
	return nil
}

// fail ends the pass with err, unless it has ended already; a nil scan
// does nothing.
func (s *passScan) fail(err error) {
	if s != nil && s.err == nil {
		s.err = err
	}
}

// failed reports whether the pass has ended with an error.
func (s *passScan) failed() bool { return s != nil && s.err != nil }

// decodeBlocks decodes the lines of the blocks from in into their
// entries and sends the blocks on out, then closes out: the third stage
// of a verifying pass, between readBlocks and the checks. When stop is
// closed it hands back to free every block it holds or still receives,
// until readBlocks has ended.
func (s *passScan) decodeBlocks(in <-chan *lineBlock, out chan<- *lineBlock, free chan<- *lineBlock, stop <-chan struct{}) {
	defer close(out)
	i := 0
	for b := range in {
		if len(b.entries) < len(b.ends) {
			b.entries = append(b.entries, make([]lineEntry, len(b.ends)-len(b.entries))...)
		}
		for j := range b.ends {
			s.decodeLine(i, b.line(j), &b.entries[j])
			i++
		}
		select {
		case out <- b:
			continue
		case <-stop:
			free <- b
		}
		for b := range in {
			free <- b
		}
		return
	}
}
