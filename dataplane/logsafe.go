package dataplane

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// Nothing the client or the upstream sent goes into a log line (issue 12):
// fasthttp's parse errors quote the bytes they choke on (a header line
// with an API key, a response header with a cookie) even with
// SecureErrorLogMessage, so its messages and the upstream's errors are
// logged by kind only.

// upstreamErrorKind names the kind of an upstream failure without quoting
// anything the upstream sent.
func upstreamErrorKind(err error, headMax int) string {
	var op *net.OpError
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		return "response head larger than " + strconv.Itoa(headMax) + " bytes"
	case errors.Is(err, fasthttp.ErrTimeout):
		return "timeout"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no free upstream connection"
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return "connection closed by the upstream"
	case errors.Is(err, fasthttp.ErrBodyTooLarge), err == errResponseTooLarge:
		return "response body too large"
	case err == errFraming:
		return "response framing anomaly"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed mid-response"
	case errors.As(err, &op):
		return op.Op + " failed"
	}
	return "malformed or unreadable response"
}

// logFormat is the fixed text of a fasthttp log format, cut at its first
// verb: the arguments (addresses, errors quoting request bytes) are left
// out.
func logFormat(format string) string {
	if i := strings.IndexByte(format, '%'); i >= 0 {
		format = format[:i]
	}
	return strings.TrimRight(format, " :\"")
}
