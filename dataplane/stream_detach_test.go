package dataplane

import "testing"

// Finding (attack131): a stream armed on a connection Serve accepted
// times that connection's writes and stops their yield (conn.timing,
// 7a4ee28) until its Close, which clears it only while the stream is
// armed; detach, finish's answer to a panic while a body is streaming,
// disarms it first, so the connection went on timing every later
// keep-alive request's writes, without the yield. No request reaches
// detach with a stream armed today (nothing between arm and the
// handler's return panics), so this is checked on the stream itself.
func TestDetachedStreamStopsTimingWrites(t *testing.T) {
	c := &conn{}
	x := &exchange{conn: c}
	x.body = new(responseBody)
	x.body.arm(nil, nil, x)
	if !c.timing {
		t.Fatal("an armed stream does not time its connection's writes")
	}
	x.body.detach()
	if c.timing {
		t.Error("after detach the connection still times its writes (conn.timing), without the yield, for every later request on it")
	}
}
