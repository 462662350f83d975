//go:build !unix

package dataplane

import "github.com/rs/zerolog"

// fitConns leaves maxConns as it is where there is no open-files limit
// to read.
func fitConns(maxConns int, _ zerolog.Logger) int { return maxConns }
