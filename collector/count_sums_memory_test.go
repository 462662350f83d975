package collector

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/portcullis/portcullis/audit"
)

// TestSenderSumsProportionate: every sender that sent a count kept its
// sums of the last ceilingSeconds seconds in a fixed array of 16 KiB, and
// each batch with a count was summed into a scratch copy of 16 KiB, so one
// folded record from each of --max-cert-senders (4096) certificate
// senders had the collector hold 64 MiB. A sender's sums now hold the
// seconds it summed: after one folded record from each of 128 senders,
// the store holds a few dozen bytes a sender, and the scratch as few.
func TestSenderSumsProportionate(t *testing.T) {
	t.Parallel()
	const senders = 128
	st, err := OpenStore(t.TempDir(), StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range senders {
		rec := StoredRecord{Time: countsAt, Tenant: "acme", Client: "acme-crm", Route: "/v1/users", Status: 429, Decision: "rate_limited", Limit: "key", Count: audit.MaxFoldCount}
		if err := st.AppendBatch(&Batch{ID: "b0", Sender: fmt.Sprintf("token:s%d", i), Records: []StoredRecord{rec}}); err != nil {
			t.Fatal(err)
		}
	}
	n, held, scratch := st.senderSumsBytes()
	if n != senders {
		t.Fatalf("%d senders hold sums, want %d", n, senders)
	}
	if held > senders*128 || scratch > 128 {
		t.Errorf("after one folded record from each of %d senders the store holds %d bytes of their sums (%d a sender) and a scratch of %d; want at most 128 a sender and 128 for the scratch",
			senders, held, held/senders, scratch)
	}
}

// senderSumsBytes reports how many senders hold second sums, the bytes
// those sums hold and the bytes of the store's scratch copy.
func (s *Store) senderSumsBytes() (senders, held, scratch int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ids := range s.seen.senders {
		if ids.sums != nil {
			senders++
			held += ids.sums.retainedBytes()
		}
	}
	scratch = s.sumsScratch.retainedBytes()
	return senders, held, scratch
}

// TestSecondSumsAsTheArrayDid: the listed sums, the array they take past
// maxFewSeconds seconds and their copies from batch to batch believe what
// an array of every second did (arraySums, the sums before they were
// listed), charge by charge, over seconds moving on, dated back (within
// the window and before it), jumping ceilingSeconds and more, and summed
// to the ceiling; a batch not stored leaves its sender's sums as they
// were, and a sender never holds more than the array and its own list.
func TestSecondSumsAsTheArrayDid(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(215, 1))
	var sender, scratch secondSums
	var want arraySums
	sec := countsAt.Unix()
	charges, held, dense := 0, 0, 0
	for batch := range 3000 {
		scratch.load(&sender)
		ref := want
		for range 1 + rng.IntN(64) {
			switch p := rng.IntN(10000); {
			case p < 4000:
				sec += int64(rng.IntN(3))
			case p < 4002:
				sec += ceilingSeconds + int64(rng.IntN(2000))
			case p < 4010:
				sec += int64(rng.IntN(600))
			}
			at := sec
			switch p := rng.IntN(100); {
			case p < 20:
				at -= int64(rng.IntN(ceilingSeconds))
			case p < 23:
				at -= ceilingSeconds - 2 + int64(rng.IntN(4))
			}
			n := int64(2 + rng.IntN(100))
			if rng.IntN(2) == 0 {
				n = audit.MaxFoldCount
			}
			times := 1
			if rng.IntN(64) == 0 {
				times += rng.IntN(1100) // to the ceiling, some of the time
			}
			for range times {
				got, exp := scratch.charge(at, n), ref.charge(at, n)
				if got != exp {
					t.Fatalf("batch %d, charge %d: %d at second %d (newest %d) flagged %q, the array %q", batch, charges, n, at-countsAt.Unix(), ref.newest-countsAt.Unix(), got, exp)
				}
				if exp == FlagCountPastSenderCeiling {
					held++
				}
				charges++
			}
		}
		if rng.IntN(8) == 0 {
			continue // not stored: the sender's sums stay
		}
		sender.keep(&scratch)
		want = ref
		if sender.dense {
			dense++
		}
		if b := sender.retainedBytes(); b > int(unsafe.Sizeof(sender))+ceilingSeconds*4 {
			t.Fatalf("batch %d: a sender's sums hold %d bytes, more than the array of every second", batch, b)
		}
	}
	if dense == 0 || dense == 3000 || held == 0 {
		t.Errorf("of 3000 batches the sums took the array after %d, and %d charges were held at the ceiling; want some of each", dense, held)
	}
	t.Logf("%d charges, %d held at the ceiling; the array taken after %d batches", charges, held, dense)
}

// arraySums are the sums as they were before they were listed: an array
// of every second.
type arraySums struct {
	used   bool
	newest int64
	sums   [ceilingSeconds]uint32
}

func (c *arraySums) charge(sec, n int64) string {
	if !c.used {
		c.used, c.newest = true, sec
	}
	if sec <= c.newest-ceilingSeconds {
		return FlagCountOutsideSenderWindow
	}
	if sec > c.newest {
		if sec-c.newest >= ceilingSeconds {
			clear(c.sums[:])
		} else {
			for s := c.newest + 1; s <= sec; s++ {
				c.sums[sumSlot(s)] = 0
			}
		}
		c.newest = sec
	}
	i := sumSlot(sec)
	if int64(c.sums[i])+n > MaxSenderRequestsPerSecond {
		return FlagCountPastSenderCeiling
	}
	c.sums[i] += uint32(n)
	return ""
}
