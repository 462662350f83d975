// Package fds fits a server's connection cap within the process's soft
// open-files limit. Past the limit accept fails on every listener (the
// admin and metrics ones too) and nothing else can be opened: no upstream
// dialled, no segment or spool file written. A Budget says how many
// descriptors a connection takes and how many the rest of the program
// keeps back; Check refuses a limit that leaves room for too few
// connections, Room says how many it leaves room for.
//
// The sidecar (dataplane) and the collector each check their limit at
// start with their own Budget; one implementation serves both.
//
// A Budget is a value, safe for concurrent use; the limit is read at
// each call (getrlimit), never kept. Where there is no limit to read (not
// unix), or it is unlimited or as good as, every cap fits.
package fds

import "fmt"

// Budget is how a program spends its descriptors. The zero value is not
// usable: PerConn must be at least 1.
type Budget struct {
	// Reserve is the descriptors kept back from connections for the rest
	// of the program (listeners, etcd, files, the Go runtime).
	Reserve int64
	// PerConn is the descriptors one connection takes (two for a proxy:
	// client and upstream).
	PerConn int64
	// MinConns is the fewest connections the program starts with, unless
	// its cap asks for fewer.
	MinConns int
	// Conns names the connections in Check's error ("client
	// connections"), PerConnText says what each takes ("one a
	// connection") and ReserveFor what Reserve is kept for ("the store,
	// etcd and the metrics listener").
	Conns, PerConnText, ReserveFor string
}

// Room returns the soft open-files limit and the connections it leaves
// room for, or false when it is unlimited (RLIM_INFINITY) or as good as,
// or cannot be read.
func (b Budget) Room() (limit uint64, room int64, ok bool) {
	limit, ok = softLimit()
	if !ok {
		return 0, 0, false
	}
	return limit, b.roomAt(limit), true
}

// roomAt is the connections the soft limit limit leaves room for.
func (b Budget) roomAt(limit uint64) int64 {
	return (int64(limit) - b.Reserve) / b.PerConn
}

// Check returns an error when the soft open-files limit leaves room for
// fewer than MinConns connections (fewer than maxConns, when it is
// smaller and not 0), naming the limit, the cap asked (--max-conns) and
// the descriptors it needs.
func (b Budget) Check(maxConns int) error {
	limit, ok := softLimit()
	return b.checkAt(limit, ok, maxConns)
}

// checkAt is Check under the soft limit limit (none: !ok).
func (b Budget) checkAt(limit uint64, ok bool, maxConns int) error {
	room := b.roomAt(limit)
	want := b.MinConns
	if maxConns > 0 {
		want = min(maxConns, b.MinConns)
	}
	if !ok || room >= int64(want) {
		return nil
	}
	asked := fmt.Sprintf("--max-conns %d", maxConns)
	if maxConns == 0 {
		asked = "the default --max-conns"
	}
	return fmt.Errorf("open-files limit %d (ulimit -n) is too low for %s: %d %s need at least %d descriptors (%s and %d for %s); raise the limit (ulimit -n, the container runtime's)",
		limit, asked, want, b.Conns, b.Reserve+b.PerConn*int64(want), b.PerConnText, b.Reserve, b.ReserveFor)
}
