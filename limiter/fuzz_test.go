package limiter

import (
	"math/big"
	"testing"
	"time"
)

// FuzzBucket runs random sequences of takes, refunds and clock steps
// (backwards too) on one key and checks the admitted count against a
// reference model: admitted - refunded <= burst + floor(rate * (maxNow -
// start)), where start is the now of the first take of at most burst tokens
// (the one that creates the bucket).
//
// The input is a limit (3 bytes) then ops of 3 bytes each: kind, amount,
// clock step.
func FuzzBucket(f *testing.F) {
	f.Add([]byte{3, 1, 2, 0, 1, 0, 0, 1, 0, 1, 2, 5})
	f.Add([]byte{200, 7, 1, 0, 1, 1, 1, 2, 200, 0, 3, 10, 2, 1, 255})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		l := fuzzLimit(data[0], data[1], data[2])
		tb := NewTable(Config{MaxKeys: 4, Shards: 1})
		var now, start, maxNow int64
		var admitted, refunded int64
		started := false
		for ops := data[3:]; len(ops) >= 3; ops = ops[3:] {
			now += fuzzStep(l, ops[2])
			n := int64(ops[1]%4) + 1
			switch ops[0] % 3 {
			case 0, 1:
				if !started && n <= l.Burst() {
					// The first take that can be admitted creates the
					// bucket; the model starts there.
					start, maxNow, started = now, now, true
				}
				maxNow = max(maxNow, now)
				if tb.TakeNAt(1, l, n, now).OK {
					admitted += n
				}
			case 2:
				tb.RefundAt(1, l, n, now)
				refunded += n
			}
			if !started {
				continue
			}
			bound := l.Burst() + floorRate(l.Events(), l.Per(), maxNow-start)
			if admitted-refunded > bound {
				t.Fatalf("%d/%v burst %d: admitted %d with %d refunded, bound %d", l.Events(), l.Per(), l.Burst(), admitted, refunded, bound)
			}
		}
	})
}

// fuzzLimit picks a limit from 1/min to 1e6/s, with odd rates.
func fuzzLimit(a, b, c byte) Limit {
	pers := []time.Duration{time.Second, time.Minute, time.Hour, 7 * time.Millisecond}
	events := int64(a)*int64(b)%1_000_000 + 1
	return NewLimit(events, pers[c%4], int64(c/4)%16+1)
}

// fuzzStep is a clock step of roughly a fraction of the emission
// interval: forward, backward or zero.
func fuzzStep(l Limit, s byte) int64 {
	interval := new(big.Int).Quo(big.NewInt(int64(l.Per())), big.NewInt(l.Events())).Int64() + 1
	step := interval * int64(s&0x3f) / 16
	if s&0x40 != 0 {
		step += 1 + int64(s>>7)
	}
	if s&0x80 != 0 {
		return -step
	}
	return step
}
