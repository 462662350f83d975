//go:build !unix

package collector

// openFilesLimit reports no limit where there is none to read.
func openFilesLimit() (uint64, bool) { return 0, false }
