package collector

import (
	"bytes"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// The records of one sidecar's batch repeat most of their attributes
// byte for byte (tenant, client, key, route, method, decision, source,
// user agent...): of a record's 18 attributes, the bench's change 4. The
// decoder remembers what each attribute position of the record before
// decoded to (recordCache), so an attribute with the same bytes costs a
// comparison instead of a parse, and a text field equal to the previous
// record's shares its string instead of a copy (BenchmarkDecodeBatchWire).
// Both hold only within one body: the cache aliases it.

// maxCachedAttrs bounds the attribute positions remembered per record.
const maxCachedAttrs = 64

// recordCache is what the previous records of a body decoded to.
type recordCache struct {
	kvs  []kvEffect           // by attribute position in the record
	text [numTextAttrs]string // the text fields of the records before
}

// kvEffect is what a plain KeyValue (plainKeyValue) of a mapped
// attribute does to a record: set text field f to kv[off:], or number
// field f to i.
type kvEffect struct {
	kv  []byte // the KeyValue's bytes, in the body; nil: nothing remembered
	f   attrField
	off int
	i   int64
}

// apply applies e, remembered from a KeyValue with the bytes of kv, to s.
func (e *kvEffect) apply(s *StoredRecord, t *recordText, kv []byte) {
	if e.f < numTextAttrs {
		t.raw[e.f], t.has = kv[e.off:], t.has|1<<e.f
		return
	}
	s.setIntAttr(e.f, anyValue{kind: fAnyInt, i: e.i})
}

// plainEffect returns the effect of kv when it is a plain KeyValue of a
// mapped attribute whose value has the field's type.
func plainEffect(kv []byte) (kvEffect, bool) {
	key, v, ok := plainKeyValue(kv)
	if !ok {
		return kvEffect{}, false
	}
	switch f := attrFieldOf(key); {
	case f == attrForeign:
	case f < numTextAttrs && v.kind == fAnyString:
		return kvEffect{kv: kv, f: f, off: len(kv) - len(v.raw)}, true
	case f > numTextAttrs && v.kind == fAnyInt:
		return kvEffect{kv: kv, f: f, i: v.i}, true
	}
	return kvEffect{}, false
}

// attr applies the attribute at position pos of a record, kv, to s.
func (d *wireDecoder) attr(s *StoredRecord, t *recordText, pos int, kv []byte) error {
	c := &d.seen
	if pos < len(c.kvs) && c.kvs[pos].kv != nil && bytes.Equal(c.kvs[pos].kv, kv) {
		c.kvs[pos].apply(s, t, kv)
		return nil
	}
	if e, ok := plainEffect(kv); ok {
		c.remember(pos, e)
		e.apply(s, t, kv)
		return nil
	}
	c.forget(pos)
	key, v, err := wireKeyValueSlow(kv)
	if err != nil {
		return err
	}
	t.set(s, key, v)
	return nil
}

// remember keeps e as the effect of attribute position pos.
func (c *recordCache) remember(pos int, e kvEffect) {
	if pos >= maxCachedAttrs {
		return
	}
	for len(c.kvs) <= pos {
		c.kvs = append(c.kvs, kvEffect{})
	}
	c.kvs[pos] = e
}

// forget drops what attribute position pos decoded to.
func (c *recordCache) forget(pos int) {
	if pos < len(c.kvs) {
		c.kvs[pos] = kvEffect{}
	}
}

// wireLogRecord decodes a LogRecord into s, which is zero.
func (d *wireDecoder) wireLogRecord(msg []byte, s *StoredRecord) error {
	var t, observed uint64
	var body rawMerge
	var text recordText
	pos := 0
	for rest := msg; len(rest) > 0; {
		// An attribute with a one-byte length, read without nextField:
		// 18 of a sidecar record's 22 fields.
		if len(rest) >= 2 && rest[0] == fLRAttributes<<3|byte(protowire.BytesType) && rest[1] < 0x80 && int(rest[1]) <= len(rest)-2 {
			n := 2 + int(rest[1])
			if err := d.attr(s, &text, pos, rest[2:n:n]); err != nil {
				return err
			}
			pos++
			rest = rest[n:]
			continue
		}
		f, r, err := nextField(rest)
		if err != nil {
			return err
		}
		rest = r
		switch {
		case f.num == fLRTime && f.typ == protowire.Fixed64Type:
			t = f.v
		case f.num == fLRObservedTime && f.typ == protowire.Fixed64Type:
			observed = f.v
		case f.num == fLRBody && f.typ == protowire.BytesType:
			body.add(f.data)
		case f.num == fLRAttributes && f.typ == protowire.BytesType:
			if err := d.attr(s, &text, pos, f.data); err != nil {
				return err
			}
			pos++
		}
	}
	text.store(s, &d.seen.text)
	if t == 0 {
		t = observed
	}
	s.Time = recordTime(t)
	if body.n > 0 {
		v, err := wireAnyValue(body.b)
		if err != nil {
			return err
		}
		s.Body = cut(redactText(v.foreignText(maxForeignBody)), maxForeignBody)
	}
	return nil
}

// recordText gathers the text attributes of one record as the body holds
// them, to copy them into one string for the record at its end: a string
// per attribute was 15 of the 27 allocations of a record
// (BenchmarkDecodeBatchWire). A record keeps strings of its own or of an
// earlier record of its batch, never the body, so a reader holding one
// field (the alert engine keeps request ids and tenants) holds a record's
// text, not a batch.
type recordText struct {
	raw [numTextAttrs][]byte
	has uint32 // bit f: raw[f] holds field f's value
}

// The text fields must fit recordText.has.
var _ [32 - numTextAttrs]struct{}

// set stores the attribute key = v in s, or its text until store.
func (t *recordText) set(s *StoredRecord, key []byte, v anyValue) {
	switch f := attrFieldOf(key); {
	case f == attrForeign:
		s.setForeignAttr(string(key), v)
	case f < numTextAttrs && v.kind == fAnyString && v.raw != nil:
		t.raw[f], t.has = v.raw, t.has|1<<f
	case f < numTextAttrs:
		t.has &^= 1 << f
		*s.textField(f) = v.foreignText(maxFieldBytes) // a nested value is a foreign one
	case f == attrRequestIDSource:
		s.setIDSource(string(key), v)
	default:
		s.setIntAttr(f, v)
	}
}

// store sets s's text fields from what set gathered: a value equal to the
// one in prev (the records before) shares its string, the others are
// copied into one new string. prev is updated to s's values.
func (t *recordText) store(s *StoredRecord, prev *[numTextAttrs]string) {
	size := 0
	for f := range numTextAttrs {
		if t.has&(1<<f) == 0 {
			continue
		}
		if string(t.raw[f]) == prev[f] {
			*s.textField(f) = prev[f]
			t.has &^= 1 << f
			continue
		}
		size += len(t.raw[f])
	}
	if size == 0 {
		return
	}
	var sb strings.Builder
	sb.Grow(size)
	for f := range numTextAttrs {
		if t.has&(1<<f) != 0 {
			sb.Write(t.raw[f])
		}
	}
	all, at := sb.String(), 0
	for f := range numTextAttrs {
		if t.has&(1<<f) != 0 {
			n := len(t.raw[f])
			*s.textField(f), at = all[at:at+n], at+n
			prev[f] = *s.textField(f)
		}
	}
}
