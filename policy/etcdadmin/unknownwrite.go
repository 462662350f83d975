package etcdadmin

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrWriteUnknown matches (errors.Is) the error of a write whose answer
// did not come: the request may have reached etcd and been applied, or
// not. Read back before writing again.
var ErrWriteUnknown = errors.New("etcdadmin: the write may or may not have been applied")

// unknownWrite is the error of a transaction sent to etcd under prefix
// whose answer was lost (answerLost).
type unknownWrite struct {
	prefix string
	err    error
}

func (e *unknownWrite) Error() string {
	return fmt.Sprintf("cannot write to etcd under %q: %v: no answer came, so the write may or may not have been applied", e.prefix, e.err)
}

func (e *unknownWrite) Unwrap() []error { return []error{e.err, ErrWriteUnknown} }

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
