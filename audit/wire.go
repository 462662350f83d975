package audit

import "encoding/binary"

// The protobuf wire format (https://protobuf.dev/programming-guides/encoding/),
// as much of it as the emitter writes. It is written here, a few lines,
// rather than imported, so the sidecar links no protobuf library (issue 19
// item 1); TestWireMatchesProtowire holds it to protowire's output.

// fieldNum is a protobuf field number.
type fieldNum int32

// Wire types of the fields the emitter writes.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
)

// appendTag appends the key of field num with wire type typ.
func appendTag(b []byte, num fieldNum, typ byte) []byte {
	return appendVarint(b, uint64(num)<<3|uint64(typ&7))
}

// appendFixed64 appends v as 8 little-endian bytes.
func appendFixed64(b []byte, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(b, v)
}

// appendVarintLong is appendVarint for values of three bytes or more.
func appendVarintLong(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// sizeVarintLong is sizeVarint for values of three bytes or more.
func sizeVarintLong(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
