package etcdadmin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrWriteUnknown matches (errors.Is) the error of a write whose answer
// did not come: the request may have reached etcd and been applied, or
// not. Read back before writing again.
var ErrWriteUnknown = errors.New("etcdadmin: the write may or may not have been applied")

// ErrTooLarge matches (errors.Is) the error of a write larger than one
// etcd request may be: etcd refused it, or the client would not send it.
// Nothing was written.
var ErrTooLarge = errors.New("etcdadmin: larger than one etcd request may be")

// tooLarge reports whether err, a transaction's, refused it for its size:
// etcd's "request is too large" (over its --max-request-bytes), or the
// client's own cap on what it sends (gRPC ResourceExhausted, "trying to
// send message larger than max"; etcd's "too many requests" shares the
// code).
func tooLarge(err error) bool {
	if errors.Is(err, rpctypes.ErrRequestTooLarge) {
		return true
	}
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.ResourceExhausted && strings.Contains(s.Message(), "larger than max")
}

// byteCount is n as the messages of a size spell it.
func byteCount(n int) string { return fmt.Sprintf("%d bytes", n) }

// unknownWrite is the error of a write to etcd whose answer was lost
// (answerLost): what says which write failed, then what happens next, if
// anything need be said.
type unknownWrite struct {
	what string
	err  error
	then string
}

func (e *unknownWrite) Error() string {
	s := fmt.Sprintf("%s: %v: no answer came, so the write may or may not have been applied", e.what, e.err)
	if e.then != "" {
		s += "; " + e.then
	}
	return s
}

func (e *unknownWrite) Unwrap() []error { return []error{e.err, ErrWriteUnknown} }

// writeError is the error of a write to etcd that failed with err, what
// saying which ("cannot write %q"). When the answer was lost (answerLost)
// it matches ErrWriteUnknown, says the write may or may not have been
// applied and then then, when not empty; else it wraps err after what.
func writeError(err error, what, then string) error {
	if answerLost(err) {
		return &unknownWrite{what: what, err: err, then: then}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// answerLost reports whether err, a transaction's, may have come after
// etcd received the request: a deadline or a cancellation (the client
// stopped waiting), or gRPC Unavailable or DeadlineExceeded (the
// connection lost, or etcd's own "request timed out", whose proposal may
// still commit). An error etcd answered (permission denied, a request too
// large) is not: nothing was written.
func answerLost(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return lostCode(ee.Code())
	}
	if s, ok := status.FromError(err); ok {
		return lostCode(s.Code())
	}
	return false
}

func lostCode(c codes.Code) bool {
	return c == codes.Unavailable || c == codes.DeadlineExceeded || c == codes.Canceled
}
