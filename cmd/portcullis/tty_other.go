//go:build !linux

package main

import "os"

// isTerminal reports whether f is a terminal; off Linux it says no, and
// inject -f - reads a terminal as it reads a pipe.
func isTerminal(*os.File) bool { return false }
