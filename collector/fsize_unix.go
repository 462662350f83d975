//go:build unix

package collector

import (
	"fmt"
	"os"
	"syscall"
)

// segmentRoom reports that the open segment seg cannot grow by need bytes
// under the process's file size limit (RLIMIT_FSIZE, ulimit -f): every
// append to it fails with EFBIG then, while a new file of need bytes, what
// Probe reserves, still fits the limit.
func segmentRoom(seg *os.File, need int64) error {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim) != nil || lim.Cur > 1<<62 { // none, or infinity
		return nil
	}
	fi, err := seg.Stat()
	if err != nil {
		return err
	}
	if fi.Size()+need > int64(lim.Cur) {
		return fmt.Errorf("collector: segment %q is %d bytes and an append needs up to %d more, over the file size limit (ulimit -f) of %d bytes: raise the limit, or set --segment-max-bytes below it and restart: %w",
			seg.Name(), fi.Size(), need, lim.Cur, syscall.EFBIG)
	}
	return nil
}

// CheckFileSize refuses a file size limit (RLIMIT_FSIZE, ulimit -f) a
// segment would reach: one grows past segmentMaxBytes by the batch that
// crosses it, up to maxBatchBytes, and an append past the limit fails
// with EFBIG, every one after it too. The collector started under such a
// limit, stored until its segment reached it, then refused every batch
// (TestCollectorRefusesFileSizeLimitBelowSegments).
func CheckFileSize(segmentMaxBytes, maxBatchBytes int64) error {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim) != nil || lim.Cur > 1<<62 { // none, or infinity
		return nil
	}
	if need := segmentMaxBytes + maxBatchBytes; int64(lim.Cur) < need {
		return fmt.Errorf("file size limit %d bytes (ulimit -f) is too low for --segment-max-bytes %d: a segment grows to it and the batch that crosses it (--max-batch-bytes %d), %d bytes; raise the limit (ulimit -f, the container runtime's), or lower --segment-max-bytes",
			lim.Cur, segmentMaxBytes, maxBatchBytes, need)
	}
	return nil
}
