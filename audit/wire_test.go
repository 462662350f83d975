package audit

import (
	"bytes"
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// The emitter's few lines of protobuf wire format write what protowire
// writes, at every varint length boundary (the test links protowire; the
// sidecar does not).
func TestWireMatchesProtowire(t *testing.T) {
	t.Parallel()
	var vals []uint64
	for shift := range 64 {
		v := uint64(1) << shift
		vals = append(vals, v-1, v, v+1)
	}
	vals = append(vals, math.MaxUint64)
	for _, v := range vals {
		if got, want := appendVarint([]byte{9}, v), protowire.AppendVarint([]byte{9}, v); !bytes.Equal(got, want) {
			t.Errorf("appendVarint(%d) = %x, want %x", v, got, want)
		}
		if got, want := sizeVarint(v), protowire.SizeVarint(v); got != want {
			t.Errorf("sizeVarint(%d) = %d, want %d", v, got, want)
		}
		if got, want := appendFixed64(nil, v), protowire.AppendFixed64(nil, v); !bytes.Equal(got, want) {
			t.Errorf("appendFixed64(%d) = %x, want %x", v, got, want)
		}
	}
	for _, num := range []fieldNum{1, 2, 6, 11, 12, 15, 16, 2047, 2048, 1<<29 - 1} {
		for _, typ := range []protowire.Type{protowire.VarintType, protowire.Fixed64Type, protowire.BytesType} {
			got := appendTag(nil, num, byte(typ))
			want := protowire.AppendTag(nil, protowire.Number(num), typ)
			if !bytes.Equal(got, want) {
				t.Errorf("appendTag(%d, %d) = %x, want %x", num, typ, got, want)
			}
		}
	}
}
