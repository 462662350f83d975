package collector

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// MaxEntryBytes bounds one line of a segment file. The collector never
// writes a longer one (AppendBatch refuses a batch whose entry would be,
// which JSON escaping makes possible within the intake's limits); a reader
// that meets one reports it instead of growing a buffer without end, so a
// segment replaced by a link to /dev/zero or a sparse multi-gigabyte file
// costs a bounded amount of memory (issue 21, item 4).
const MaxEntryBytes = 64 << 20

// ErrNotRegular is returned (wrapped) when a store file is a symlink, FIFO,
// device or directory rather than a regular file.
var ErrNotRegular = errors.New("collector: not a regular file")

// openRegular opens path for reading without following a symlink and
// without blocking on a FIFO, and accepts only a regular file.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	return openRegularFlag(path, os.O_RDONLY)
}

// openRegularFlag is openRegular with other open flags (O_WRONLY|O_APPEND
// to continue a segment). O_NONBLOCK keeps open(2) from waiting for a FIFO's
// writer; it has no effect on regular files.
func openRegularFlag(path string, flag int) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, nil, fmt.Errorf("%w: %q is a symbolic link", ErrNotRegular, path)
		}
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %q is a %s", ErrNotRegular, path, fileKind(fi.Mode()))
	}
	return f, fi, nil
}

// readRegular reads a small store file (a digest, the head) that must be a
// regular file of at most limit bytes.
func readRegular(path string, limit int64) ([]byte, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, fmt.Errorf("collector: %q is %d bytes, more than the %d a store file of its kind holds", path, fi.Size(), limit)
	}
	return io.ReadAll(io.LimitReader(f, limit))
}

func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeSymlink != 0:
		return "symbolic link"
	case m&os.ModeNamedPipe != 0:
		return "FIFO"
	case m&os.ModeDevice != 0:
		return "device"
	case m.IsDir():
		return "directory"
	case m&os.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

// errLineTooLong reports a segment line longer than MaxEntryBytes.
var errLineTooLong = fmt.Errorf("collector: segment line longer than %d bytes", MaxEntryBytes)

// lineReader yields the lines of a segment, each at most max bytes.
type lineReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// lineReaders keeps readers between segments: a scan of a store with
// thousands of segments otherwise allocates a 1 MiB buffer and grows a
// line buffer for each (BenchmarkPack in package evidence).
var lineReaders sync.Pool

// maxPooledLine bounds the line buffer a pooled reader keeps.
const maxPooledLine = 8 << 20

// newLineReader returns a reader of r's lines; release gives it back.
func newLineReader(r io.Reader, max int) *lineReader {
	lr, _ := lineReaders.Get().(*lineReader)
	if lr == nil {
		return &lineReader{r: bufio.NewReaderSize(r, 1<<20), max: max}
	}
	lr.r.Reset(r)
	lr.max = max
	return lr
}

// release returns lr to the pool; no line it returned may be used after.
func (lr *lineReader) release() {
	lr.r.Reset(nil)
	if cap(lr.buf) > maxPooledLine {
		lr.buf = nil
	}
	lineReaders.Put(lr)
}

// next returns the next line with its newline. At the end it returns the
// partial last line (no newline, possibly empty) and io.EOF. A line longer
// than max yields errLineTooLong; the reader cannot go on after it.
func (lr *lineReader) next() ([]byte, error) {
	lr.buf = lr.buf[:0]
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if len(lr.buf)+len(chunk) > lr.max {
			return nil, errLineTooLong
		}
		lr.buf = append(lr.buf, chunk...)
		switch {
		case err == nil:
			return lr.buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return lr.buf, err
		}
	}
}

// maxDocBytes bounds a digest or head file.
const maxDocBytes = 1 << 20
