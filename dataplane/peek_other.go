//go:build !unix

package dataplane

import "net"

// peeker is nil where sockets cannot be peeked; connections are then
// checked only for bytes left in the reader after a response.
type peeker = *noPeek

type noPeek struct{}

func newPeeker(net.Conn) peeker { return nil }

func (*noPeek) pending() bool { return false }
