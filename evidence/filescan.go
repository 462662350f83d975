package evidence

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/internal/credential"
)

// packScan is the credential scan of the files a pack writes: every file,
// as bytes, so that no field the pack copies out of the trail (now or
// later) escapes it.
type packScan struct {
	n    int // files scanned
	hits []fileHit
}

// fileHit is a credential pattern found in one file of the pack.
type fileHit struct {
	file, pattern string
	count, line   int // the matches, and the line of the first
}

// packFile is one file of the pack, as it is written.
type packFile struct {
	name string
	data []byte
}

// scanFiles scans each file for the credential patterns.
func scanFiles(fs []packFile) *packScan {
	s := &packScan{n: len(fs)}
	for _, f := range fs {
		for _, p := range credential.Patterns {
			locs := p.RE.FindAllIndex(f.data, -1)
			if len(locs) > 0 {
				line := 1 + bytes.Count(f.data[:locs[0][0]], []byte("\n"))
				s.hits = append(s.hits, fileHit{file: f.name, pattern: p.Name, count: len(locs), line: line})
			}
		}
		if n, at := credential.EncodedMatches(f.data); n > 0 {
			line := 1 + bytes.Count(f.data[:at], []byte("\n"))
			s.hits = append(s.hits, fileHit{file: f.name, pattern: credential.EncodedName, count: n, line: line})
		}
	}
	return s
}

func (s *packScan) equal(o *packScan) bool { return s.n == o.n && slices.Equal(s.hits, o.hits) }

// warning names the files holding a credential and its kind, never the
// credential.
func (s *packScan) warning() string {
	var where []string
	for _, h := range s.hits {
		where = append(where, fmt.Sprintf("%s in %s", h.pattern, h.file))
	}
	return "the credential scan FAILED: the pack's files hold " + strings.Join(where, ", ") + " (reported, not removed)"
}
