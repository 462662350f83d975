//go:build !linux

package dataplane

import "net"

// rawSock returns c: raw socket I/O (sockio_linux.go) is for Linux only.
func rawSock(c net.Conn) net.Conn { return c }
