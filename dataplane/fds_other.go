//go:build !unix

package dataplane

import "github.com/rs/zerolog"

// CheckOpenFiles accepts any cap where there is no open-files limit to
// read.
func CheckOpenFiles(int) error { return nil }

// fitConns leaves maxConns as it is where there is no open-files limit
// to read.
func fitConns(maxConns int, _ zerolog.Logger) (int, error) { return maxConns, nil }
