//go:build !unix

package durable

import "os"

// Unlinked is not known off Unix: a file open there cannot be deleted.
func Unlinked(*os.File) bool { return false }
