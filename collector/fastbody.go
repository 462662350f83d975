package collector

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/maphash"
	"strconv"
	"time"
)

// decodeBody decodes an entry body into b: a batch body the store wrote
// (batchBodyLocked) through decodeBatchBody, anything else, or anything
// that decoder does not recognise, through encoding/json. A scan of 10
// million records spent most of its time in encoding/json's validation
// and reflection (BenchmarkPack in package evidence);
// FuzzDecodeBatchBody holds the two to the same result.
func decodeBody(body []byte, b *entryBody, reuse *bodyBuffers) error {
	if isKind(body, KindBatch) {
		var fast entryBody
		if decodeBatchBodyInto(body, &fast, reuse) {
			*b = fast
			return nil
		}
	}
	return json.Unmarshal(body, b)
}

// bodyBuffers are what a scan reuses from one entry to the next: the
// records slice (QueryRecords: fn does not keep a record) and the
// interned strings.
type bodyBuffers struct {
	recs   []StoredRecord
	intern map[string]string
	table  *internTable
}

// decodeBatchBody decodes a batch body of the shape the store writes: an
// object of known keys whose strings hold no escapes and whose numbers are
// integers. It reports false for anything else, and the caller decodes it
// with encoding/json.
func decodeBatchBody(body []byte, b *entryBody) bool {
	return decodeBatchBodyInto(body, b, nil)
}

// decodeBatchBodyInto is decodeBatchBody reusing reuse's buffers (nil:
// none), and leaving them for the next entry.
func decodeBatchBodyInto(body []byte, b *entryBody, reuse *bodyBuffers) bool {
	d := fastDecoder{buf: body}
	if reuse != nil {
		if reuse.table == nil {
			reuse.table = new(internTable)
		}
		d.table, d.intern, d.recs = reuse.table, reuse.intern, reuse.recs
		defer func() { reuse.intern, reuse.recs = d.intern, d.recs }()
	}
	ok := decodeBatchFields(&d, b)
	return ok && d.end()
}

// decodeBatchFields reads a batch body's object into b.
func decodeBatchFields(d *fastDecoder, b *entryBody) bool {
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "seq":
			n, ok := d.int()
			b.Seq = uint64(n)
			return ok && n >= 0
		case "kind":
			return d.str(&b.Kind)
		case "durable_head":
			n, ok := d.int()
			b.DurableHead = uint64(n)
			return ok && n >= 0
		case "counted":
			// Every entry after the store's first counted publication
			// holds it: unread, each went to encoding/json
			// (TestDecodeBatchBodyTakesCounted).
			return d.boolean(&b.Counted)
		case "time":
			return d.time(&b.Time)
		case "batch_id":
			return d.str(&b.BatchID)
		case "sender":
			return d.str(&b.Sender)
		case "service":
			return d.str(&b.Service)
		case "host":
			return d.str(&b.Host)
		case "instance":
			return d.str(&b.Instance)
		case "pod":
			return d.str(&b.Pod)
		case "bound_tenants":
			return d.str(&b.BoundTenants)
		case "replay":
			return d.str(&b.Replay)
		case "records":
			if d.timesOnly != nil {
				return d.recordTimes()
			}
			return d.records(&b.Records)
		}
		return false
	})
}

// decodeBatchTimes is decodeBatchBody keeping of the records only their
// times, in times: it accepts what decodeBatchBody accepts, without
// copying a string (Verify counts records and their time span).
func decodeBatchTimes(body []byte, b *entryBody, times *[]time.Time) bool {
	d := fastDecoder{buf: body, timesOnly: times}
	ok := decodeBatchFields(&d, b)
	return ok && d.end()
}

// fastDecoder reads one JSON value of a restricted shape from buf.
type fastDecoder struct {
	buf    []byte
	pos    int
	intern map[string]string // the values of a batch's few-valued fields, stored once
	table  *internTable      // the values of a scan's few-valued fields, when it reuses buffers
	recs   []StoredRecord    // a slice to reuse for the records, or nil
	prev   *StoredRecord     // the record before the one being read, or nil
	// timesOnly, when set, receives the records' times and nothing else
	// of them is kept (decodeBatchTimes).
	timesOnly *[]time.Time
}

// maxIntern bounds a decoder's interned strings.
const maxIntern = 4096

// internable reports whether a record field takes few values (tenants,
// clients, routes...), worth storing once per batch.
func internable(key []byte) bool {
	switch string(key) {
	case "tenant", "client", "key_id", "auth_method", "issuer", "method", "route", "decision", "limit", "cut", "source_ip", "user_agent":
		return true
	}
	return false
}

// internTable holds the values of few-valued fields across a scan, one a
// slot chosen by a hash of its bytes, before the map of them: a repeated
// value costs a hash and a compare, where the map cost a probe as long as
// the decoding of the rest of a record (BenchmarkPack in package
// evidence). Two values that share a slot take it in turn from the map.
type internTable [internSlots]string

const internSlots = 4096

var internSeed = maphash.MakeSeed()

// internStr is str for a few-valued field, key. The record before's
// value comes first: most fields repeat it (methods, decisions, user
// agents), and a compare costs less than the hash.
func (d *fastDecoder) internStr(dst *string, key []byte) bool {
	if d.table == nil {
		return d.internMap(dst)
	}
	start := d.pos
	s, ok := d.raw()
	if d.prev != nil && ok {
		if q := d.prev.stringField(key); *q == string(s) {
			*dst = *q
			return true
		}
	}
	slot := &d.table[maphash.Bytes(internSeed, s)%internSlots]
	if *slot == string(s) && ok {
		*dst = *slot
		return true
	}
	d.pos = start
	ok = d.internMap(dst)
	*slot = *dst
	return ok
}

// internMap is internStr without the table.
func (d *fastDecoder) internMap(dst *string) bool {
	s, ok := d.raw()
	if v, hit := d.intern[string(s)]; hit {
		*dst = v
		return ok
	}
	*dst = string(s)
	if d.intern == nil {
		d.intern = make(map[string]string)
	}
	if len(d.intern) < maxIntern {
		d.intern[*dst] = *dst
	}
	return ok
}

func (d *fastDecoder) ws() {
	for d.pos < len(d.buf) {
		switch d.buf[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// next skips white space and consumes c.
func (d *fastDecoder) next(c byte) bool {
	if d.pos < len(d.buf) && d.buf[d.pos] == c {
		d.pos++ // the store writes no white space
		return true
	}
	d.ws()
	if d.pos < len(d.buf) && d.buf[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

// peek skips white space and reports whether c is next.
func (d *fastDecoder) peek(c byte) bool {
	d.ws()
	return d.pos < len(d.buf) && d.buf[d.pos] == c
}

// boolean reads true or false into dst.
func (d *fastDecoder) boolean(dst *bool) bool {
	d.ws()
	switch rest := d.buf[d.pos:]; {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		d.pos += 4
		*dst = true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		d.pos += 5
		*dst = false
	default:
		return false
	}
	return true
}

func (d *fastDecoder) end() bool {
	d.ws()
	return d.pos == len(d.buf)
}

// raw reads a string without escapes or control characters, valid UTF-8
// as encoding/json would leave it unchanged.
func (d *fastDecoder) raw() ([]byte, bool) {
	if !d.next('"') {
		return nil, false
	}
	start := d.pos
	i := start
	// Eight bytes at a time while none is special: the strings of 10
	// million records are most of 3.8 GB (BenchmarkPack in package
	// evidence).
	for ; i+8 <= len(d.buf); i += 8 {
		if specialByte(binary.LittleEndian.Uint64(d.buf[i:])) {
			break
		}
	}
	for ; i < len(d.buf); i++ {
		switch c := d.buf[i]; {
		case c == '"':
			d.pos = i + 1
			return d.buf[start:i], true
		case plainByte[c] == 0:
			return nil, false // escapes and non-ASCII text: encoding/json decides
		}
	}
	return nil, false
}

// specialByte reports whether a byte of w is one raw stops at: a quote,
// a backslash, a control character or a byte of 0x80 and above.
func specialByte(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := w^(ones*'"'), w^(ones*'\\')
	return (w|(w-ones*0x20)|
		((quote-ones)&^quote)|
		((backslash-ones)&^backslash))&highs != 0
}

// key reads an object key. It does not check the key's bytes as raw
// does: a key with an escape or other special bytes is none of the
// plain ASCII keys the decoder knows, so it is refused all the same.
func (d *fastDecoder) key() ([]byte, bool) {
	if !d.next('"') {
		return nil, false
	}
	i := bytes.IndexByte(d.buf[d.pos:], '"')
	if i < 0 {
		return nil, false
	}
	k := d.buf[d.pos : d.pos+i]
	d.pos += i + 1
	return k, true
}

// plainByte marks the bytes a string may hold for raw: printable ASCII
// but the backslash.
var plainByte = func() (t [256]byte) {
	for c := 0x20; c < 0x80; c++ {
		if c != '\\' {
			t[c] = 1
		}
	}
	return t
}()

func (d *fastDecoder) str(dst *string) bool {
	s, ok := d.raw()
	*dst = string(s)
	return ok
}

func (d *fastDecoder) time(dst *time.Time) bool {
	s, ok := d.raw()
	return ok && dst.UnmarshalText(s) == nil
}

// int reads an integer as encoding/json reads one into an int64.
func (d *fastDecoder) int() (int64, bool) {
	d.ws()
	start := d.pos
	if d.pos < len(d.buf) && d.buf[d.pos] == '-' {
		d.pos++
	}
	digits := d.pos
	for d.pos < len(d.buf) && d.buf[d.pos] >= '0' && d.buf[d.pos] <= '9' {
		d.pos++
	}
	n := d.buf[start:d.pos]
	if d.pos == digits || (d.buf[digits] == '0' && d.pos > digits+1) {
		return 0, false
	}
	if d.pos < len(d.buf) && (d.buf[d.pos] == '.' || d.buf[d.pos] == 'e' || d.buf[d.pos] == 'E') {
		return 0, false
	}
	if d.pos-digits > 18 {
		v, err := strconv.ParseInt(string(n), 10, 64)
		return v, err == nil
	}
	// Up to 18 digits fit an int64 whatever they are.
	var v int64
	for _, c := range d.buf[digits:d.pos] {
		v = v*10 + int64(c-'0')
	}
	if digits > start {
		v = -v
	}
	return v, true
}

// object reads {"key": value, ...} of known keys (see key), calling field
// for each key with the decoder at its value.
func (d *fastDecoder) object(field func(key []byte) bool) bool {
	return d.objectOf(d.key, field)
}

// stringMap is object for any keys: each is read as raw reads a string.
func (d *fastDecoder) stringMap(field func(key []byte) bool) bool {
	return d.objectOf(d.raw, field)
}

func (d *fastDecoder) objectOf(readKey func() ([]byte, bool), field func(key []byte) bool) bool {
	if !d.next('{') {
		return false
	}
	if d.next('}') {
		return true
	}
	for {
		key, ok := readKey()
		if !ok || !d.next(':') || !field(key) {
			return false
		}
		if d.next('}') {
			return true
		}
		if !d.next(',') {
			return false
		}
	}
}

// array reads [value, ...], calling elem for each.
func (d *fastDecoder) array(elem func() bool) bool {
	if !d.next('[') {
		return false
	}
	if d.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if d.next(']') {
			return true
		}
		if !d.next(',') {
			return false
		}
	}
}

func (d *fastDecoder) records(dst *[]StoredRecord) bool {
	if d.peek('n') {
		return false // null: encoding/json decides
	}
	// One record a "time" key: the capacity without regrowing the slice,
	// counted only when there is no slice to reuse (the count is a read
	// of the whole body).
	out := d.recs[:0]
	if out == nil {
		out = make([]StoredRecord, 0, bytes.Count(d.buf[d.pos:], []byte(`{"time":`)))
	}
	ok := d.array(func() bool {
		out = append(out, StoredRecord{})
		d.prev = nil
		if n := len(out); n > 1 {
			d.prev = &out[n-2]
		}
		return d.record(&out[len(out)-1])
	})
	*dst, d.recs = out, out
	return ok
}

// fieldProbe answers which keys are string and integer fields; it is never
// written.
var fieldProbe StoredRecord

// recordTimes reads the records array as records does, appending each
// record's time to d.timesOnly.
func (d *fastDecoder) recordTimes() bool {
	if d.peek('n') {
		return false
	}
	*d.timesOnly = (*d.timesOnly)[:0]
	return d.array(func() bool {
		var t time.Time
		ok := d.object(func(key []byte) bool {
			switch {
			case string(key) == "time":
				return d.time(&t)
			case fieldProbe.stringField(key) != nil:
				_, ok := d.raw()
				return ok
			case fieldProbe.intField(key) != nil:
				_, ok := d.int()
				return ok
			case string(key) == "attributes":
				return !d.peek('n') && d.stringMap(func([]byte) bool { _, ok := d.raw(); return ok })
			case string(key) == "flags":
				return !d.peek('n') && d.array(func() bool { _, ok := d.raw(); return ok })
			case string(key) == "request_id_source":
				var s IDSource
				return d.idSource(&s)
			}
			return false
		})
		*d.timesOnly = append(*d.timesOnly, t)
		return ok
	})
}

func (d *fastDecoder) record(r *StoredRecord) bool {
	return d.object(func(key []byte) bool {
		if p := r.stringField(key); p != nil {
			if internable(key) {
				return d.internStr(p, key)
			}
			return d.str(p)
		}
		if p := r.intField(key); p != nil {
			v, ok := d.int()
			*p = v
			return ok
		}
		switch string(key) {
		case "time":
			return d.time(&r.Time)
		case "attributes":
			return d.attributes(&r.Attributes)
		case "request_id_source":
			return d.idSource(&r.RequestIDSource)
		case "flags":
			return d.flags(&r.Flags)
		}
		return false
	})
}

func (r *StoredRecord) stringField(key []byte) *string {
	switch string(key) {
	case "tenant":
		return &r.Tenant
	case "client":
		return &r.Client
	case "key_id":
		return &r.KeyID
	case "auth_method":
		return &r.AuthMethod
	case "issuer":
		return &r.Issuer
	case "token_fingerprint":
		return &r.TokenFingerprint
	case "method":
		return &r.Method
	case "route":
		return &r.Route
	case "path":
		return &r.Path
	case "decision":
		return &r.Decision
	case "request_id":
		return &r.RequestID
	case "source_ip":
		return &r.SourceIP
	case "user_agent":
		return &r.UserAgent
	case "body":
		return &r.Body
	case "sender":
		return &r.Sender
	case "pod":
		return &r.Pod
	case "approval_id":
		return &r.ApprovalID
	case "limit":
		return &r.Limit
	case "cut":
		return &r.Cut
	case "cert_serial":
		return &r.CertSerial
	case "cert_issuer":
		return &r.CertIssuer
	}
	return nil
}

func (r *StoredRecord) intField(key []byte) *int64 {
	switch string(key) {
	case "status":
		return &r.Status
	case "bytes_in":
		return &r.BytesIn
	case "bytes_out":
		return &r.BytesOut
	case "duration_us":
		return &r.DurationUS
	case "policy_revision":
		return &r.PolicyRevision
	case "count":
		return &r.Count
	}
	return nil
}

func (d *fastDecoder) attributes(dst *map[string]string) bool {
	if d.peek('n') {
		return false
	}
	if *dst == nil {
		*dst = map[string]string{}
	}
	return d.stringMap(func(key []byte) bool {
		var v string
		ok := d.str(&v)
		(*dst)[string(key)] = v
		return ok
	})
}

func (d *fastDecoder) flags(dst *[]string) bool {
	if d.peek('n') {
		return false
	}
	out := []string{}
	ok := d.array(func() bool {
		var s string
		ok := d.str(&s)
		out = append(out, s)
		return ok
	})
	*dst = out
	return ok
}

// idSource reads a record's request_id_source (IDSource.UnmarshalText);
// a value it does not take is left to encoding/json, which refuses it.
func (d *fastDecoder) idSource(dst *IDSource) bool {
	s, ok := d.raw()
	return ok && dst.UnmarshalText(s) == nil
}
