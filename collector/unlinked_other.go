//go:build !unix

package collector

import "os"

// unlinked is not known off Unix: a file open there cannot be deleted.
func unlinked(*os.File) bool { return false }
