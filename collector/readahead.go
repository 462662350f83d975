package collector

import (
	"errors"
	"io"
)

// readAhead is how many blocks of lines a verification reads ahead of
// its checks. With blockBytes it bounds the lines a verification holds to
// a few MiB for the lines the collector writes; a hostile store of lines
// near MaxEntryBytes can make it hold readAhead of them at once (and the
// line reader one more), and a block keeps no more than maxPooledLine
// once it is handed back.
const readAhead = 4

// blockBytes is the size at which a block of lines is handed on.
const blockBytes = 1 << 20

// lineBlock is a run of a segment's complete lines, each with its chain
// hash, as readBlocks hands them to the verifier.
type lineBlock struct {
	data   []byte     // the lines, newlines dropped
	ends   []int      // where each line ends in data
	hashes [][32]byte // each line's chainHash(prev, body), when hashed
	hashed []bool     // whether the line's prev and body were read
	// end marks the segment's last block; partial is then the length of
	// a last line without a newline, and err a read error (a line longer
	// than MaxEntryBytes) that stopped the reading.
	end     bool
	partial int
	err     error
	// entries are the lines as a pass's scan decoded them (decodeBlocks),
	// each slot keeping its records' slice for the block's next use.
	entries []lineEntry
}

// line returns line j of b, valid until b is handed back.
func (b *lineBlock) line(j int) []byte {
	start := 0
	if j > 0 {
		start = b.ends[j-1]
	}
	return b.data[start:b.ends[j]]
}

func (b *lineBlock) reset() {
	if cap(b.data) > maxPooledLine {
		b.data = nil
	}
	b.data, b.ends, b.hashes, b.hashed = b.data[:0], b.ends[:0], b.hashes[:0], b.hashed[:0]
	b.end, b.partial, b.err = false, 0, nil
}

// add appends line i (with its newline) and its chain hash, unless the
// line is past the trusted lines (-1: all) and so not checked.
func (b *lineBlock) add(line []byte, i, trusted int) {
	line = line[:len(line)-1]
	b.data = append(b.data, line...)
	b.ends = append(b.ends, len(b.data))
	var l entryLine
	var h [32]byte
	ok := (trusted < 0 || i < trusted) && decodeEntryLine(line, &l) == nil
	if ok {
		var prev [32]byte
		if prev, ok = parseHash(l.Prev); ok {
			h = chainHash(prev, l.Body)
		}
	}
	b.hashes, b.hashed = append(b.hashes, h), append(b.hashed, ok)
}

// readBlocks reads r's lines into blocks taken from free and sends them
// on out, the last one marked end, then closes out. It stops early when
// stop is closed, handing back to free the block it holds. It runs on a
// goroutine of its own, so that reading and hashing (the file's SHA-256
// when r tees into it, each line's chain hash) go on beside the
// verifier's checks of the lines before.
func readBlocks(r io.Reader, trusted int, free chan *lineBlock, out chan<- *lineBlock, stop <-chan struct{}) {
	defer close(out)
	lr := newLineReader(r, MaxEntryBytes)
	defer lr.release()
	var b *lineBlock
	for i := 0; ; i++ {
		if b == nil {
			select {
			case b = <-free:
				b.reset()
			case <-stop:
				return
			}
		}
		line, err := lr.next()
		switch {
		case err == nil:
			b.add(line, i, trusted)
			if len(b.data) < blockBytes {
				continue
			}
		case errors.Is(err, io.EOF):
			b.end, b.partial = true, len(line)
		default:
			b.end, b.err = true, err
		}
		select {
		case out <- b:
		case <-stop:
			free <- b
			return
		}
		if b.end {
			return
		}
		b = nil
	}
}
