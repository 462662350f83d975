package collector

import (
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Nested attribute values (an AnyValue holding an array or a key-value
// list) are checked on the wire without allocating, and rendered as JSON
// from the wire only when the collector keeps them, and only as far as it
// keeps them (a foreign attribute's 1 KiB, a body's 4 KiB). They were
// decoded into the generated types and rendered whole with protojson,
// even to be thrown away: 132 bytes allocated per byte of body, so that
// one sender's 16 MiB batch of nested values cost 2 GB of allocation and
// some 10 s of CPU (TestNestedValuesCostBounded).

// maxNestDepth bounds the nesting of AnyValues checkNested and the
// renderer follow: each level is two protobuf messages, so a value the
// generated types accept (10,000 messages) is never refused for its depth.
const maxNestDepth = 10_000

var errNestedTooDeep = errors.New("nested attribute value deeper than 10000 levels")

// checkNested checks an ArrayValue (num fAnyArray) or KeyValueList
// (fAnyKvlist) message as proto.Unmarshal would: well-formed fields, UTF-8
// strings, bounded depth. It allocates nothing.
func checkNested(msg []byte, num protowire.Number, depth int) error {
	if depth > maxNestDepth {
		return errNestedTooDeep
	}
	for len(msg) > 0 {
		f, rest, err := nextField(msg)
		if err != nil {
			return err
		}
		msg = rest
		if f.num != 1 || f.typ != protowire.BytesType {
			continue
		}
		if num == fAnyArray {
			err = checkAny(f.data, depth)
		} else {
			err = checkKeyValue(f.data, depth)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkKeyValue checks a KeyValue of a KeyValueList.
func checkKeyValue(msg []byte, depth int) error {
	for len(msg) > 0 {
		f, rest, err := nextField(msg)
		if err != nil {
			return err
		}
		msg = rest
		switch {
		case f.num == fKVKey && f.typ == protowire.BytesType && !utf8.Valid(f.data):
			return errWire
		case f.num == fKVValue && f.typ == protowire.BytesType:
			if err := checkAny(f.data, depth); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkAny checks an AnyValue inside a nested value.
func checkAny(msg []byte, depth int) error {
	for len(msg) > 0 {
		f, rest, err := nextField(msg)
		if err != nil {
			return err
		}
		msg = rest
		switch {
		case f.typ != protowire.BytesType:
		case f.num == fAnyString && !utf8.Valid(f.data):
			return errWire
		case f.num == fAnyArray || f.num == fAnyKvlist:
			if err := checkNested(f.data, f.num, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// text renders v as String does, a nested value only until it is longer
// than limit bytes: the result is then a prefix of String's, a few bytes
// longer than limit, for the caller to cut.
func (v anyValue) text(limit int) string { return v.render(limit, false) }

// foreignText is text for a foreign record's body or attribute: a nested
// value's members whose key names a credential (credentialKey), and the
// value of a pair whose name does ({"name": "Authorization", "value":
// ...}: credentialPair), are rendered as Redacted, at any depth, as the
// attribute of that key is (foreignAttr); under a map a password or a
// token was stored as sent (TestForeignCredentialsInMapsRedacted).
func (v anyValue) foreignText(limit int) string { return v.render(limit, true) }

// render is text, with the members of credential keys redacted when
// redact is set.
func (v anyValue) render(limit int, redact bool) string {
	if v.kind != fAnyArray && v.kind != fAnyKvlist {
		return v.String()
	}
	msg := v.msg
	if v.pb != nil {
		// The generated types' value (the JSON intake) is rendered from its
		// encoding, so both intakes render one value the same.
		var err error
		if msg, err = proto.Marshal(v.pb); err != nil {
			return ""
		}
	}
	bp := renderBuffers.Get().(*[]byte)
	r := renderer{dst: (*bp)[:0], limit: limit, redact: redact}
	r.anyValue(msg, nil, 0)
	keep := len(r.dst)
	if keep-utf8.UTFMax > limit {
		keep = limit + utf8.UTFMax
	}
	out := string(r.dst[:keep])
	if cap(r.dst) <= maxPooledRender {
		*bp = r.dst[:0]
		renderBuffers.Put(bp)
	}
	return out
}

// renderBuffers are the renderer's scratch buffers: a rendered value
// allocates only its string, the part of it kept (and a few bytes more, so
// that the caller still sees it was longer and cuts it on a rune boundary).
var renderBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooledRender is the largest scratch buffer kept for reuse.
const maxPooledRender = 64 << 10

// renderer writes nested AnyValues as JSON in the shape of protojson's
// (without its whitespace), from the wire, until dst is longer than limit.
type renderer struct {
	dst    []byte
	limit  int
	redact bool // the values of credential keys are rendered as Redacted (foreignText)
}

func (r *renderer) full() bool { return len(r.dst) > r.limit }

// anyValue renders the AnyValue that first and then each of more encode,
// merged as protobuf merges them: the last oneof member on the wire wins,
// and the occurrences of an array or list since it was last set merge
// (their values concatenate).
func (r *renderer) anyValue(first []byte, more [][]byte, depth int) {
	if depth > maxNestDepth {
		return
	}
	var last field
	var parts [][]byte // the occurrences of the array or list member
	scan := func(msg []byte) {
		for len(msg) > 0 {
			f, rest, err := nextField(msg)
			if err != nil {
				return
			}
			msg = rest
			switch {
			case f.num == fAnyString && f.typ == protowire.BytesType, f.num == fAnyBool && f.typ == protowire.VarintType,
				f.num == fAnyInt && f.typ == protowire.VarintType, f.num == fAnyDouble && f.typ == protowire.Fixed64Type,
				f.num == fAnyBytes && f.typ == protowire.BytesType:
				last, parts = f, parts[:0]
			case (f.num == fAnyArray || f.num == fAnyKvlist) && f.typ == protowire.BytesType:
				if last.num != f.num {
					parts = parts[:0]
				}
				last = f
				parts = append(parts, f.data)
			}
		}
	}
	scan(first)
	for _, m := range more {
		scan(m)
	}
	r.member(last, parts, depth)
}

// member renders the AnyValue whose last oneof member is f.
func (r *renderer) member(f field, parts [][]byte, depth int) {
	switch f.num {
	case 0:
		r.dst = append(r.dst, "{}"...)
	case fAnyString:
		r.dst = appendJSONString(append(r.dst, `{"stringValue":`...), string(f.data))
		r.dst = append(r.dst, '}')
	case fAnyBool:
		r.dst = strconv.AppendBool(append(r.dst, `{"boolValue":`...), f.v != 0)
		r.dst = append(r.dst, '}')
	case fAnyInt:
		r.dst = strconv.AppendInt(append(r.dst, `{"intValue":"`...), int64(f.v), 10)
		r.dst = append(r.dst, `"}`...)
	case fAnyDouble:
		r.dst = appendJSONDouble(append(r.dst, `{"doubleValue":`...), math.Float64frombits(f.v))
		r.dst = append(r.dst, '}')
	case fAnyBytes:
		r.dst = append(r.dst, `{"bytesValue":"`...)
		r.dst = base64.StdEncoding.AppendEncode(r.dst, f.data)
		r.dst = append(r.dst, `"}`...)
	case fAnyArray:
		r.dst = append(r.dst, `{"arrayValue":{`...)
		r.values(parts, false, depth)
		r.dst = append(r.dst, "}}"...)
	case fAnyKvlist:
		r.dst = append(r.dst, `{"kvlistValue":{`...)
		r.values(parts, true, depth)
		r.dst = append(r.dst, "}}"...)
	}
}

// values renders the values (field 1) of the merged occurrences of an
// ArrayValue, or of a KeyValueList when kv.
//
// An array's element after a string naming a credential at an even
// index, as in [["Authorization", "..."]] or a flat [name, value, name,
// value, ...] list of headers, is cleared: such a value was stored as
// sent unless it had a credential's shape (TestForeignArrayPairsRedacted).
func (r *renderer) values(parts [][]byte, kv bool, depth int) {
	n := 0
	pair := kv && r.redact && credentialPair(parts)
	clearNext := false // the element before named a credential
	for _, msg := range parts {
		for len(msg) > 0 && !r.full() {
			f, rest, err := nextField(msg)
			if err != nil {
				break
			}
			msg = rest
			if f.num != 1 || f.typ != protowire.BytesType {
				continue
			}
			if n == 0 {
				r.dst = append(r.dst, `"values":[`...)
			} else {
				r.dst = append(r.dst, ',')
			}
			n++
			switch {
			case kv:
				r.keyValue(f.data, pair, depth+1)
			case clearNext:
				r.dst = appendJSONString(append(r.dst, `{"stringValue":`...), Redacted)
				r.dst = append(r.dst, '}')
				clearNext = false
			default:
				r.anyValue(f.data, nil, depth+1)
				clearNext = r.redact && n%2 == 1 && stringNamesCredential(f.data)
			}
		}
	}
	if n > 0 {
		r.dst = append(r.dst, ']')
	}
}

// credentialPair reports whether the merged occurrences of a
// KeyValueList are a pair naming a credential: a member "name" or "key"
// (pairNameKey) holding a string that names one, as
// {"name": "Authorization", "value": "..."} does. Such a pair's value was
// stored as sent unless it had a credential's shape
// (TestForeignHeaderPairsRedacted).
func credentialPair(parts [][]byte) bool {
	for _, msg := range parts {
		for len(msg) > 0 {
			f, rest, err := nextField(msg)
			if err != nil {
				break
			}
			msg = rest
			if f.num == 1 && f.typ == protowire.BytesType && namesCredential(f.data) {
				return true
			}
		}
	}
	return false
}

// namesCredential reports whether a KeyValue is the name of a pair
// (pairNameKey) whose value, in any of its occurrences, is a string
// naming a credential (credentialKey).
func namesCredential(kv []byte) bool {
	var key []byte
	for msg := kv; len(msg) > 0; {
		f, rest, err := nextField(msg)
		if err != nil {
			return false
		}
		msg = rest
		if f.num == fKVKey && f.typ == protowire.BytesType {
			key = f.data
		}
	}
	if !pairNameKey(key) {
		return false
	}
	for len(kv) > 0 {
		f, rest, _ := nextField(kv)
		kv = rest
		if f.num == fKVValue && f.typ == protowire.BytesType && stringNamesCredential(f.data) {
			return true
		}
	}
	return false
}

// stringNamesCredential reports whether an AnyValue holds, in any of its
// string members, a string naming a credential (credentialKey).
func stringNamesCredential(v []byte) bool {
	for len(v) > 0 {
		g, rest, err := nextField(v)
		if err != nil {
			return false
		}
		v = rest
		if g.num == fAnyString && g.typ == protowire.BytesType && credentialKey(string(g.data)) {
			return true
		}
	}
	return false
}

// keyValue renders a KeyValue: its last key, and its values merged. pair
// is set when its list is a pair naming a credential (credentialPair):
// its value is then cleared.
func (r *renderer) keyValue(msg []byte, pair bool, depth int) {
	var key []byte
	var first []byte
	var more [][]byte
	values := 0
	for len(msg) > 0 {
		f, rest, err := nextField(msg)
		if err != nil {
			break
		}
		msg = rest
		switch {
		case f.num == fKVKey && f.typ == protowire.BytesType:
			key = f.data
		case f.num == fKVValue && f.typ == protowire.BytesType:
			if values == 0 {
				first = f.data
			} else {
				more = append(more, f.data)
			}
			values++
		}
	}
	r.dst = append(r.dst, '{')
	if len(key) > 0 {
		r.dst = appendJSONString(append(r.dst, `"key":`...), string(key))
	}
	if values > 0 {
		if len(key) > 0 {
			r.dst = append(r.dst, ',')
		}
		r.dst = append(r.dst, `"value":`...)
		if r.redact && (credentialKey(string(key)) || pair && pairValueKey(key)) {
			r.dst = appendJSONString(append(r.dst, `{"stringValue":`...), Redacted)
			r.dst = append(r.dst, '}')
		} else {
			r.anyValue(first, more, depth)
		}
	}
	r.dst = append(r.dst, '}')
}

// appendJSONDouble appends f as protojson writes a double: a number, or
// "NaN", "Infinity", "-Infinity" as strings.
func appendJSONDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}
