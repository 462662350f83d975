package dataplane

import (
	"bufio"
	"testing"
)

// TestListsCloseInPieces holds listsClose, which resumes its scan as each
// piece of a head arrives (closeScan), to what headListsClose reads from
// the whole head, with the head arriving a byte at a time: every split of
// a line, a fold, a CR from its LF, is a place the scan resumes at.
func TestListsCloseInPieces(t *testing.T) {
	t.Parallel()
	heads := []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nCONNECTION: keep-alive, CLOSE\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: x-debug,\r\n close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: close\r\nConnection: keep-alive\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnectionx: close\r\nX-Connection: close\r\n\r\n",
		"\r\nHTTP/1.1 200 OK\nConnection: close\n\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 999 OK\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nConnection: close\r\n\r\n",
	}
	for _, head := range heads {
		wc, wl, whole, wb := headListsClose([]byte(head))
		if !whole {
			t.Fatalf("headListsClose(%q): not whole", head)
		}
		br := bufio.NewReaderSize(&byteReader{b: []byte(head)}, 1024)
		if c, l, b := listsClose(br); c != wc || l != wl || b != wb {
			t.Errorf("listsClose(%q) a byte at a time = %v, %v, %v; whole, headListsClose reads %v, %v, %v", head, c, l, b, wc, wl, wb)
		}
	}
}
