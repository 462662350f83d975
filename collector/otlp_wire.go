package collector

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/encoding/protowire"
)

// Protobuf field numbers of the OTLP logs messages (opentelemetry-proto
// logs/v1, common/v1, collector/logs/v1) the wire decoder reads; the
// sidecar's encoder (audit/otlp_encode.go) writes the same numbers, and
// FuzzWireMatchesGenerated holds both to the generated types.
const (
	fReqResourceLogs = 1
	fRLResource      = 1
	fRLScopeLogs     = 2
	fResAttributes   = 1
	fSLLogRecords    = 2
	fLRTime          = 1
	fLRAttributes    = 6
	fLRObservedTime  = 11
	fKVKey           = 1
	fKVValue         = 2
	fAnyString       = 1
	fAnyInt          = 3
)

// The protobuf body of an OTLP logs request is decoded straight from the
// wire into a Batch: unmarshalling into the generated message types first
// took half of the collector's CPU and 82 allocations per record (27 now)
// (BenchmarkCollectorIngest/http). Only the fields the collector keeps are
// read; the rest are skipped, as proto.Unmarshal would keep them as
// unknown. Message fields that occur more than once are merged the way
// protobuf merges them (repeated fields append, scalars take the last
// value), and an AnyValue holding an array or a key-value list is handed to
// proto.Unmarshal, which is rare. TestWireMatchesGenerated checks the
// result against the generated types'.

// Field numbers the decoder reads that the encoder (audit/otlp_encode.go)
// never writes.
const (
	fLRBody    = 5
	fAnyBool   = 2
	fAnyDouble = 4
	fAnyArray  = 5
	fAnyKvlist = 6
	fAnyBytes  = 7
)

var errWire = errors.New("malformed protobuf")

// field is one field of a message on the wire.
type field struct {
	num  protowire.Number
	typ  protowire.Type
	v    uint64 // varint, fixed32 and fixed64 values
	data []byte // bytes values (strings, messages)
}

// nextField reads the field at the start of b and returns it and the rest.
func nextField(b []byte) (field, []byte, error) {
	// Every field of a record the sidecar sends is a one-byte tag of a
	// bytes field with a length below 128, or a fixed64: read those
	// without protowire's general loops (BenchmarkDecodeBatchWire).
	if len(b) >= 2 && b[0] >= 1<<3 && b[0] < 0x80 {
		switch protowire.Type(b[0] & 7) {
		case protowire.BytesType:
			if n := int(b[1]); b[1] < 0x80 && n <= len(b)-2 {
				return field{num: protowire.Number(b[0] >> 3), typ: protowire.BytesType, data: b[2 : 2+n : 2+n]}, b[2+n:], nil
			}
			// A record: a two-byte length.
			if len(b) >= 3 && b[1] >= 0x80 && b[2] < 0x80 {
				if n := int(b[1]&0x7f) | int(b[2])<<7; n <= len(b)-3 {
					return field{num: protowire.Number(b[0] >> 3), typ: protowire.BytesType, data: b[3 : 3+n : 3+n]}, b[3+n:], nil
				}
			}
		case protowire.VarintType:
			if b[1] < 0x80 {
				return field{num: protowire.Number(b[0] >> 3), typ: protowire.VarintType, v: uint64(b[1])}, b[2:], nil
			}
		case protowire.Fixed64Type:
			if len(b) >= 9 {
				return field{num: protowire.Number(b[0] >> 3), typ: protowire.Fixed64Type, v: binary.LittleEndian.Uint64(b[1:])}, b[9:], nil
			}
		}
	}
	return nextFieldSlow(b)
}

// nextFieldSlow is nextField for any field.
func nextFieldSlow(b []byte) (field, []byte, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return field{}, nil, errWire
	}
	f := field{num: num, typ: typ}
	b = b[n:]
	switch typ {
	case protowire.VarintType:
		f.v, n = protowire.ConsumeVarint(b)
	case protowire.Fixed64Type:
		f.v, n = protowire.ConsumeFixed64(b)
	case protowire.Fixed32Type:
		var v uint32
		v, n = protowire.ConsumeFixed32(b)
		f.v = uint64(v)
	case protowire.BytesType:
		f.data, n = protowire.ConsumeBytes(b)
	default: // groups, which OTLP never uses, are skipped whole
		n = protowire.ConsumeFieldValue(num, typ, b)
	}
	if n < 0 {
		return field{}, nil, errWire
	}
	return f, b[n:], nil
}

// wireDecoder decodes one protobuf body into b within the limits, checking
// ctx every cancelCheck records so a client that left stops the work.
type wireDecoder struct {
	ctx  context.Context
	lim  DecodeLimits
	b    *Batch
	seen recordCache // what the records before decoded to
	held int         // what the records decoded hold (recordBytes and heldBytes)
}

// cancelCheck is how many records are decoded between checks of the
// request's context (a context check costs about as much as a record).
const cancelCheck = 256

// decodeWire decodes a protobuf LogsData (ExportLogsServiceRequest) body.
func decodeWire(body []byte) (*Batch, error) {
	return decodeWireContext(context.Background(), body, DecodeLimits{}.withDefaults(), nil)
}

// decodeWireContext decodes body within lim, its records into records'
// storage.
func decodeWireContext(ctx context.Context, body []byte, lim DecodeLimits, records []StoredRecord) (*Batch, error) {
	d := wireDecoder{ctx: ctx, lim: lim, b: &Batch{Records: records}}
	for rest := body; len(rest) > 0; {
		f, r, err := nextField(rest)
		if err != nil {
			return nil, err
		}
		rest = r
		if f.num == fReqResourceLogs && f.typ == protowire.BytesType {
			if err := d.wireResourceLogs(f.data); err != nil {
				return nil, err
			}
		}
	}
	if len(d.b.Records) == 0 {
		d.b.Records = nil // as the generated types have it
	}
	return d.b, nil
}

func (d *wireDecoder) wireResourceLogs(msg []byte) error {
	for len(msg) > 0 {
		f, r, err := nextField(msg)
		if err != nil {
			return err
		}
		msg = r
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case fRLResource:
			err = d.b.wireResource(f.data)
		case fRLScopeLogs:
			err = d.wireScopeLogs(f.data)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *Batch) wireResource(msg []byte) error {
	for len(msg) > 0 {
		f, r, err := nextField(msg)
		if err != nil {
			return err
		}
		msg = r
		if f.num != fResAttributes || f.typ != protowire.BytesType {
			continue
		}
		key, v, err := wireKeyValue(f.data)
		if err != nil {
			return err
		}
		b.resourceAttr(string(key), v)
	}
	return nil
}

func (d *wireDecoder) wireScopeLogs(msg []byte) error {
	reserved := false
	for len(msg) > 0 {
		f, r, err := nextField(msg)
		if err != nil {
			return err
		}
		msg = r
		if f.num == fSLLogRecords && f.typ == protowire.BytesType {
			if err := d.admit(len(f.data)); err != nil {
				return err
			}
			if !reserved {
				d.reserve(len(f.data), len(msg))
				reserved = true
			}
			// Decoded in place: a StoredRecord is a few hundred bytes.
			d.b.Records = append(d.b.Records, StoredRecord{})
			s := &d.b.Records[len(d.b.Records)-1]
			if err := d.wireLogRecord(f.data, s); err != nil {
				return err
			}
			if d.held += recordBytes + s.heldBytes(); d.held > d.lim.MaxDecodedBytes {
				return decodedTooLarge(len(d.b.Records), d.lim)
			}
		}
	}
	return nil
}

// reserve grows the batch's records for the rest of a ScopeLogs, rest
// bytes that start with a record of size bytes, counting on records of
// one batch being about the same size: appending 512 records one by one
// copied them nine times over. It reserves at most maxPooledRecords (1.5
// MB), whatever the record limit, so that a tiny first record in front of
// a large body cannot make it allocate more than the body warrants.
func (d *wireDecoder) reserve(size, rest int) {
	n := min(rest/(size+3)+1, d.lim.MaxRecords-len(d.b.Records), maxPooledRecords)
	if n > 0 {
		d.b.Records = slices.Grow(d.b.Records, n)
	}
}

// admit checks one more record of size bytes against the limits, and the
// context every cancelCheck records: an empty record is two bytes on the
// wire, so a 16 KB gzip body can hold millions (issue 21 item 7).
func (d *wireDecoder) admit(size int) error {
	n := len(d.b.Records)
	if n >= d.lim.MaxRecords {
		return fmt.Errorf("%w: more than %d records", ErrBatchTooLarge, d.lim.MaxRecords)
	}
	if size > d.lim.MaxRecordBytes {
		return fmt.Errorf("%w: record %d of %d bytes over the %d byte limit", ErrBatchTooLarge, n, size, d.lim.MaxRecordBytes)
	}
	if n%cancelCheck == 0 {
		return d.ctx.Err()
	}
	return nil
}

// rawMerge joins the encodings of a message field that occurs more than
// once: the concatenation of the encodings decodes as their merge. The
// first occurrence aliases the body; the second copies both into a buffer
// the later ones append to, so n occurrences cost O(total bytes), not
// O(n²) as copying everything again for each did (issue 21 item 8).
type rawMerge struct {
	b []byte
	n int // occurrences so far
}

func (m *rawMerge) add(next []byte) {
	switch m.n {
	case 0:
		m.b = next
	case 1:
		m.b = append(append(make([]byte, 0, 2*(len(m.b)+len(next))), m.b...), next...)
	default:
		m.b = append(m.b, next...)
	}
	m.n++
}

// wireKeyValue decodes a KeyValue; the key aliases msg.
func wireKeyValue(msg []byte) ([]byte, anyValue, error) {
	if key, v, ok := plainKeyValue(msg); ok && validKey(key) {
		return key, v, nil
	}
	return wireKeyValueSlow(msg)
}

// plainKeyValue reads msg when it is a KeyValue as the sidecar encodes
// one (audit/otlp_encode.go): the key, then a value holding one string or
// one int, every length below 128. The caller checks that the key is
// UTF-8 (validKey). It reports false for anything else,
// which wireKeyValueSlow reads: half of the decoder's time went to the
// general loops over these three-field messages (BenchmarkDecodeBatchWire).
func plainKeyValue(msg []byte) ([]byte, anyValue, bool) {
	if len(msg) < 4 || msg[0] != fKVKey<<3|byte(protowire.BytesType) || msg[1] >= 0x80 {
		return nil, anyValue{}, false
	}
	kl := int(msg[1])
	if kl > len(msg)-4 {
		return nil, anyValue{}, false
	}
	key, rest := msg[2:2+kl], msg[2+kl:]
	if rest[0] != fKVValue<<3|byte(protowire.BytesType) || rest[1] >= 0x80 || int(rest[1]) != len(rest)-2 {
		return nil, anyValue{}, false
	}
	val := rest[2:]
	switch {
	case len(val) >= 2 && val[0] == fAnyString<<3|byte(protowire.BytesType) && int(val[1]) == len(val)-2:
		if !utf8.Valid(val[2:]) {
			return nil, anyValue{}, false
		}
		return key, anyValue{kind: fAnyString, raw: val[2:]}, true
	case len(val) >= 2 && val[0] == fAnyInt<<3|byte(protowire.VarintType):
		x, n := protowire.ConsumeVarint(val[1:])
		if n != len(val)-1 {
			return nil, anyValue{}, false
		}
		return key, anyValue{kind: fAnyInt, i: int64(x)}, true
	}
	return nil, anyValue{}, false
}

// validKey reports whether key is valid UTF-8, without looking at the
// bytes of a key the collector maps (all ASCII).
func validKey(key []byte) bool {
	return attrFieldOf(key) != attrForeign || utf8.Valid(key)
}

// wireKeyValueSlow is wireKeyValue for any KeyValue.
func wireKeyValueSlow(msg []byte) ([]byte, anyValue, error) {
	var key []byte
	var value rawMerge
	for len(msg) > 0 {
		f, r, err := nextField(msg)
		if err != nil {
			return nil, anyValue{}, err
		}
		msg = r
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case fKVKey:
			key = f.data
		case fKVValue:
			value.add(f.data)
		}
	}
	if !utf8.Valid(key) {
		return nil, anyValue{}, errWire // proto3 strings are UTF-8
	}
	if value.n == 0 {
		return key, anyValue{}, nil
	}
	v, err := wireAnyValue(value.b)
	return key, v, err
}

// anyValue is an OTLP AnyValue: one of the scalars, or the decoded message
// for arrays and key-value lists.
type anyValue struct {
	kind  protowire.Number // the oneof field set, 0 for none
	s     string
	raw   []byte // a string's bytes in the body (wire decoder); s when nil
	i     int64
	f     float64
	b     bool
	bytes []byte
	msg   []byte             // arrays and lists (wire decoder): the whole AnyValue's encoding
	pb    *commonpb.AnyValue // arrays and lists (generated types)
}

// wireAnyValue decodes an AnyValue; the last oneof member on the wire wins,
// as in proto.Unmarshal.
func wireAnyValue(msg []byte) (anyValue, error) {
	var v anyValue
	for rest := msg; len(rest) > 0; {
		f, r, err := nextField(rest)
		if err != nil {
			return v, err
		}
		rest = r
		switch {
		case f.num == fAnyString && f.typ == protowire.BytesType:
			if !utf8.Valid(f.data) {
				return v, errWire
			}
			v = anyValue{kind: fAnyString, raw: f.data}
		case f.num == fAnyBool && f.typ == protowire.VarintType:
			v = anyValue{kind: fAnyBool, b: f.v != 0}
		case f.num == fAnyInt && f.typ == protowire.VarintType:
			v = anyValue{kind: fAnyInt, i: int64(f.v)}
		case f.num == fAnyDouble && f.typ == protowire.Fixed64Type:
			v = anyValue{kind: fAnyDouble, f: math.Float64frombits(f.v)}
		case f.num == fAnyBytes && f.typ == protowire.BytesType:
			v = anyValue{kind: fAnyBytes, bytes: f.data}
		case (f.num == fAnyArray || f.num == fAnyKvlist) && f.typ == protowire.BytesType:
			// Checked here, rendered from msg (merges included) only
			// when kept (otlp_nested.go); a later scalar replaces it.
			if err := checkNested(f.data, f.num, 1); err != nil {
				return v, err
			}
			v = anyValue{kind: f.num, msg: msg}
		}
	}
	return v, nil
}

// pbAnyValue is the anyValue of a generated AnyValue (the JSON path).
func pbAnyValue(pb *commonpb.AnyValue) anyValue {
	switch x := pb.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return anyValue{kind: fAnyString, s: x.StringValue}
	case *commonpb.AnyValue_IntValue:
		return anyValue{kind: fAnyInt, i: x.IntValue}
	case *commonpb.AnyValue_BoolValue:
		return anyValue{kind: fAnyBool, b: x.BoolValue}
	case *commonpb.AnyValue_DoubleValue:
		return anyValue{kind: fAnyDouble, f: x.DoubleValue}
	case *commonpb.AnyValue_BytesValue:
		return anyValue{kind: fAnyBytes, bytes: x.BytesValue}
	case nil:
		return anyValue{}
	case *commonpb.AnyValue_KvlistValue:
		return anyValue{kind: fAnyKvlist, pb: pb}
	}
	return anyValue{kind: fAnyArray, pb: pb}
}

// String renders v as text.
func (v anyValue) String() string {
	switch v.kind {
	case fAnyString:
		if v.raw != nil {
			return string(v.raw)
		}
		return v.s
	case fAnyInt:
		return strconv.FormatInt(v.i, 10)
	case fAnyBool:
		return strconv.FormatBool(v.b)
	case fAnyDouble:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case fAnyBytes:
		return hex.EncodeToString(v.bytes)
	case 0:
		return ""
	}
	return v.text(math.MaxInt)
}

// saturateInt is f as an int64, cut toward zero, saturating out of
// range and 0 for NaN: int64(f) leaves those to the machine, and amd64
// stored a status of 1e300 as -9223372036854775808
// (TestDoubleAttributeSaturates).
func saturateInt(f float64) int64 {
	switch {
	case f != f:
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// Int reads an int value, accepting numeric strings and doubles from
// clients that type attributes loosely.
func (v anyValue) Int() int64 {
	switch v.kind {
	case fAnyInt:
		return v.i
	case fAnyDouble:
		return saturateInt(v.f)
	case fAnyString:
		n, _ := strconv.ParseInt(strings.TrimSpace(v.String()), 10, 64)
		return n
	}
	return 0
}
