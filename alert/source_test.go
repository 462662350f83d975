package alert

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestAuthFailuresSourceIPv6Network: a guesser on IPv6 owns a whole /64
// (what a host or a cloud instance is given) and takes a new address for
// every request; per address it never reaches the rule's 30 a minute, and
// were it to, each address would be an alert and a ticket of its own. The
// source of an IPv6 record is its /64, as new_network has it: 35 guesses
// from 35 addresses of one /64 are one alert about the /64.
func TestAuthFailuresSourceIPv6Network(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	var recs []collector.StoredRecord
	for i := range 35 {
		recs = append(recs, rec(t0.Add(time.Duration(i)*time.Second), failed("guess0000"), from(fmt.Sprintf("2001:db8:7:9:%x::%x", i, i+1))))
	}
	r.send(recs...)
	a := wantAlerts(t, r, "token-guessing-source", 1)[0]
	if a.Key != "2001:db8:7:9::/64" || a.Count != 35 {
		t.Errorf("alert key %q count %d, want 2001:db8:7:9::/64 and 35", a.Key, a.Count)
	}
}

// TestAuthFailuresSourceIPv6NetworksApart: addresses of different /64s
// stay apart, and IPv4 sources keep their address (a NAT'd office is not
// its /24).
func TestAuthFailuresSourceIPv6NetworksApart(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	var recs []collector.StoredRecord
	for i := range 40 {
		recs = append(recs, rec(t0.Add(time.Duration(i)*time.Second), failed("guess0000"), from(fmt.Sprintf("2001:db8:7:%x::1", i))))
		recs = append(recs, rec(t0.Add(time.Duration(i)*time.Second), failed("guess0000"), from(fmt.Sprintf("198.51.100.%d", i))))
	}
	r.send(recs...)
	wantAlerts(t, r, "token-guessing-source", 0)
}
