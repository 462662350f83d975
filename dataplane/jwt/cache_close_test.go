package jwt

import (
	"sync"
	"testing"
	"time"
)

// TestSetRacesClose: a verifier the new tables do not keep is closed
// (dataplane's prepare) while requests that loaded it still verify tokens
// and cache them. ristretto's Close closes the channel Set sends on
// before it marks itself closed, so a Set in that window sent on a closed
// channel: the race detector reported it in CI, and without it the send
// panics. Sets racing a Close must neither race nor panic (run with
// -race, as make test does).
func TestSetRacesClose(t *testing.T) {
	for range 50 {
		c, err := newCache(1000, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := range 200 {
					c.set(uint64(g*1000+i), &entry{}, time.Minute)
				}
			}()
		}
		close(start)
		c.close()
		wg.Wait()
	}
}
