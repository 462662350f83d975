package collector

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
)

// Reading a batch's body: its format, its bytes within the in-flight
// budget, a body cut short told apart.

// batchFormat returns the OTLP format a Content-Type names, or ok false.
// charset is the charset it names when that is not UTF-8 (in any case,
// quoted or not), which refuses the batch: OTLP/JSON and protobuf's
// strings are UTF-8, and a batch declared utf-16 was decoded as UTF-8
// (TestBatchCharsetOtherThanUTF8Refused).
func batchFormat(contentType string) (format, charset string, ok bool) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", "", false
	}
	if cs, named := params["charset"]; named && !strings.EqualFold(cs, "utf-8") {
		return "", cs, false
	}
	switch mt {
	case FormatProtobuf, "application/protobuf":
		return FormatProtobuf, "", true
	case FormatJSON:
		return FormatJSON, "", true
	}
	return "", "", false
}

// readBody reads the (possibly gzip) body up to MaxBodyBytes into buf's
// body buffer, reserving in hold the memory it holds: the pooled buffer's
// capacity, every growth and a gzip reader. A reservation over the
// in-flight budget ends the read with errBusy.
func (c *Collector) readBody(w http.ResponseWriter, r *http.Request, buf *ingestBuffers, hold *bodyHold) ([]byte, int, error) {
	if r.ContentLength > c.cfg.MaxBodyBytes {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("batch of %d bytes exceeds the %d byte limit", r.ContentLength, c.cfg.MaxBodyBytes)
	}
	limit := c.cfg.MaxBodyBytes + 1 // the byte more tells a body over the limit
	if int64(cap(buf.body)) > limit || !hold.take(int64(cap(buf.body))) {
		// A pooled buffer this request cannot need, or cannot have: it
		// is left to the collector, and the body read into a new one.
		buf.body = nil
	}
	buf.wire = wireBody{r: r.Body}
	var src io.Reader = http.MaxBytesReader(w, &buf.wire, c.cfg.MaxBodyBytes)
	hint := r.ContentLength
	// Content codings are case-insensitive, and x-gzip is gzip (RFC 9110
	// section 8.4.1): "GZIP" was answered 400, which a sender drops its
	// batch on (read100, TestContentCodingAnyCase).
	enc := r.Header.Get("Content-Encoding")
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "", "identity":
	case "gzip", "x-gzip":
		hint = 0 // the length is the compressed one
		if !hold.take(gzipReaderBytes) {
			return nil, http.StatusServiceUnavailable, errBusy
		}
		zr, err := gzip.NewReader(src)
		if err != nil && buf.wire.err != nil {
			return nil, http.StatusRequestTimeout, incomplete(buf.wire.err)
		}
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("cannot read gzip body: %w", err)
		}
		src = zr
	default:
		return nil, http.StatusBadRequest, fmt.Errorf("unsupported content encoding %q", enc)
	}
	body, err := readAll(buf.body[:0], src, hint, limit, hold)
	buf.body = body
	if errors.Is(err, errBusy) {
		return nil, http.StatusServiceUnavailable, err
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || int64(len(body)) > c.cfg.MaxBodyBytes {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("batch exceeds the %d byte limit", c.cfg.MaxBodyBytes)
	}
	if err != nil && buf.wire.err != nil {
		return nil, http.StatusRequestTimeout, incomplete(buf.wire.err)
	}
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("cannot read body: %w", err)
	}
	return body, http.StatusOK, nil
}

// wireBody is a request's body as the connection gives it, noting the
// error that ended its reads short: a read timeout, or the sender gone
// mid-body. readBody tells such a body, which is incomplete, from one that
// arrived whole and does not parse (malformed) by it: a gzip stream cut
// short fails the same way in both.
type wireBody struct {
	r   io.ReadCloser
	err error
}

func (b *wireBody) Close() error { return b.r.Close() }

func (b *wireBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if cutShort(err) {
		b.err = err
	}
	return n, err
}

// cutShort reports whether a body read error says the body stopped
// before its end: the connection's (a read timeout, a reset), or an end
// of the connection before the declared length or the last chunk
// (io.ErrUnexpectedEOF). A chunked body's broken framing ("invalid byte
// in chunk length", a bare LF) is the sender's bytes, malformed: taken for
// incomplete, it was answered 408 and retried for ever, and kept off
// PortcullisAuditBatchesMalformed (TestBrokenChunkFramingIsMalformed).
func cutShort(err error) bool {
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne)
}

// incomplete is the error of a body whose sender stopped mid-body. It is
// answered 408, which the sidecar retries (it dropped a batch answered
// 400), and counted as rejects reason "incomplete", not "malformed": a
// slow network is no broken or hostile sender
// (TestIncompleteBodyNotMalformed).
func incomplete(err error) error {
	return fmt.Errorf("the batch's body ended before its end (the sender timed out or went away mid-body; retry): %w", err)
}
