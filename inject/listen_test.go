package inject_test

import (
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/portcullis/portcullis/inject"
)

// TestListenerMakesRoomForANewPeer: the caps closed every connection
// past them, so eight pods holding MaxConnsPerPeer connections each (and
// answering a request now and then, past any idle timeout) held all
// MaxConns places, and the API server's next connection (a new replica,
// or one its idle timeout had closed) was closed unread: no pod could be
// created in a labelled namespace. A new peer now takes the place of the
// busiest peers' newest connection (the API server's are long-lived);
// that peer cannot take it back.
func TestListenerMakesRoomForANewPeer(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := inject.Listener(raw)
	t.Cleanup(func() { ln.Close() })
	go func() { // an echo server: a connection it keeps answers a byte
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	dial := func(from string) net.Conn {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	served := func(c net.Conn) bool {
		if _, err := c.Write([]byte{'x'}); err != nil {
			return false
		}
		_, err := io.ReadFull(c, make([]byte, 1))
		return err == nil
	}
	var flood []net.Conn
	for i := range inject.MaxConns {
		c := dial(fmt.Sprintf("127.0.1.%d", 1+i/inject.MaxConnsPerPeer))
		if !served(c) { // in order: accepted before the next is dialled
			t.Fatalf("connection %d of the flood not served", i)
		}
		flood = append(flood, c)
	}
	if apiServer := dial("127.0.0.1"); !served(apiServer) {
		t.Fatalf("with %d connections open from %d peers, a new peer's connection was closed unread; want it served in place of the busiest peers' newest",
			inject.MaxConns, inject.MaxConns/inject.MaxConnsPerPeer)
	}
	last := len(flood) - 1
	if served(flood[last]) {
		t.Errorf("the busiest peers' newest connection is still served; want it closed to make room")
	}
	if again := dial(fmt.Sprintf("127.0.1.%d", inject.MaxConns/inject.MaxConnsPerPeer)); served(again) {
		t.Errorf("the evicted peer's reconnection was served; want it closed (it would take the new peer's place back)")
	}
	if !served(flood[0]) || !served(flood[last-1]) {
		t.Errorf("other connections were closed; want only the busiest peers' newest")
	}
}
