package collector

import (
	"strconv"
	"testing"
	"time"
)

// The marks of forgotten instances are kept for dedupForgotten instances
// in all, and were one ring shared by every sender: one token sending
// some 66,000 new instances (a sidecar restarted in a loop, or a stolen
// token naming a new instance each batch) pushed every other sender's
// marks out, and a late retry of another sender's stored batch was then
// taken for new and stored twice. A full memory now forgets the oldest
// mark of the sender holding the most: the flood forgets its own.
func TestForgottenMarksNotEvictedByAnotherSender(t *testing.T) {
	t.Parallel()
	var d dedup
	now := time.Now()
	d.add("token:a", "a0-1", 1, now)
	for i := range dedupInstances {
		d.add("token:a", "a"+strconv.Itoa(i+1)+"-1", 1, now)
	}
	if dup, err := d.check("token:a", "a0-1"); !dup || err != nil {
		t.Fatalf("a0-1, its instance forgotten: dup %v, %v; want a duplicate", dup, err)
	}
	for i := range dedupForgotten + dedupInstances {
		d.add("token:b", "b"+strconv.Itoa(i)+"-1", 1, now)
	}
	if dup, err := d.check("token:a", "a0-1"); !dup || err != nil {
		t.Errorf("a0-1 after another sender forgot %d instances: dup %v, %v; want a duplicate (it is stored)", dedupForgotten, dup, err)
	}
	if n := len(d.forgotten); n > dedupForgotten {
		t.Errorf("%d marks of forgotten instances kept, want at most %d", n, dedupForgotten)
	}
	// The flood's own latest marks are kept, its oldest forgotten.
	if dup, _ := d.check("token:b", "b"+strconv.Itoa(dedupForgotten-1)+"-1"); !dup {
		t.Errorf("the flooding sender's latest forgotten instance not remembered")
	}
}
