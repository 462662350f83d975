//go:build !linux

package collector

import (
	"errors"
	"os"
)

// fallocate is written, not allocated, off Linux (reserve).
func fallocate(*os.File, int64) error { return errors.ErrUnsupported }
