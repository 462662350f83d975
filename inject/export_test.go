package inject

import (
	"testing"
	"time"
)

// LiftReviewReadTimeout sets the body read deadline to d for the rest of
// t: a test measuring the memory of reviews at once, on a CI machine
// whose other packages' tests take the CPU, must not fail because a body
// took more than the production deadline to come over loopback.
func LiftReviewReadTimeout(t *testing.T, d time.Duration) {
	old := reviewReadTimeout
	reviewReadTimeout = d
	t.Cleanup(func() { reviewReadTimeout = old })
}
