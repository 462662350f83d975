package collector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/durable"
)

// ReadResumeRevision reads the etcd revision the collector stored lifecycle
// events up to. A missing file is revision 0 (start from the beginning);
// a file that cannot be read or does not hold a revision is an error, not
// 0, so a damaged file is not silently taken as "replay everything".
func ReadResumeRevision(path string) (int64, error) {
	b, err := durable.ReadRegular(path) // a FIFO planted here is refused, not waited on
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("collector: cannot read resume revision %q: %w", path, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("collector: resume revision file %q holds %q, not a revision; delete it to replay every event (stored ones are skipped)", path, truncate(string(b), 32))
	}
	return n, nil
}

// WriteResumeRevision records rev durably: a temporary file, fsync, rename
// over path, fsync of the directory, so a crash leaves the old revision or
// the new one, never a torn or empty file (issue 13 item 4).
func WriteResumeRevision(path string, rev int64) error {
	return durable.WriteFile(filepath.Dir(path), filepath.Base(path), []byte(strconv.FormatInt(rev, 10)+"\n"))
}
