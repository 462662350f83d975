//go:build !unix

package collector

import "os"

// segmentRoom: no file size limit to check here (see fsize_unix.go).
func segmentRoom(*os.File, int64) error { return nil }

// CheckFileSize: no file size limit to check here (see fsize_unix.go).
func CheckFileSize(int64, int64) error { return nil }
