package alert

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// TestAlertIDsOfOneSecondDistinct: an alert id is its rule, key and time;
// with 32 bits of hash, two of the 77 000 sources a guessing campaign from
// a /48's /64s (or a botnet) makes cross the threshold in one second
// share an id about as often as not, and the second alert overwrote the
// first (its ticket file too, one ticket lost; a replay then dropped the
// second). Two sources whose ids collided under 32 bits both keep their
// alert.
func TestAlertIDsOfOneSecondDistinct(t *testing.T) {
	t.Parallel()
	at := t0.Add(time.Minute)
	seen := map[uint32]string{}
	var k1, k2 string
	for i := 0; i < 1<<22 && k2 == ""; i++ {
		k := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		sum := sha256.Sum256([]byte("token-guessing-source\x00" + k + "\x00" + strconv.FormatInt(at.UnixNano(), 10)))
		h := binary.BigEndian.Uint32(sum[:4])
		if prev, ok := seen[h]; ok {
			k1, k2 = prev, k
		}
		seen[h] = k
	}
	if k2 == "" {
		t.Fatal("no two sources share 32 bits of id hash; the test needs a pair")
	}
	r := newRig(t, examplePolicy(t))
	batch := append(every(at.Add(-29*time.Second), time.Second, 30, failed("guess0000"), from(k1)),
		every(at.Add(-29*time.Second), time.Second, 30, failed("guess0000"), from(k2))...)
	r.send(batch...)
	as := wantAlerts(t, r, "token-guessing-source", 2)
	if as[0].ID == as[1].ID {
		t.Errorf("alerts of %s and %s share id %s", k1, k2, as[0].ID)
	}
	r.restart()
	wantAlerts(t, r, "token-guessing-source", 2)
}
