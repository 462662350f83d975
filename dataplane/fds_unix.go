//go:build unix

package dataplane

import (
	"fmt"
	"syscall"

	"github.com/rs/zerolog"
)

// fdReserve is the descriptors kept back from client connections for
// everything else: the listeners, the admin listener and its scrapes,
// etcd, the audit file or spool and the collector, the Go runtime.
const fdReserve = 128

// minConns is the fewest client connections the sidecar starts with
// (unless --max-conns asks for fewer): with fewer, a kubelet probe and a
// few clients hold them all.
const minConns = 16

// CheckOpenFiles returns an error when the soft open-files limit leaves
// room for fewer than minConns client connections (fewer than maxConns,
// when it is smaller and not 0): two descriptors a connection, client and
// upstream, and fdReserve for the rest. The sidecar refuses such a limit
// at start; it had raised the cap to a floor of 16 above it, and at
// ulimit -n 12 the first idle connections took every descriptor, the
// admin listener's accept among them
// (TestSidecarRefusesOpenFilesLimitBelowConnCap).
func CheckOpenFiles(maxConns int) error {
	limit, room, ok := connRoom()
	want := minConns
	if maxConns > 0 {
		want = min(maxConns, minConns)
	}
	if !ok || room >= int64(want) {
		return nil
	}
	asked := fmt.Sprintf("--max-conns %d", maxConns)
	if maxConns == 0 {
		asked = "the default --max-conns"
	}
	return fmt.Errorf("open-files limit %d (ulimit -n) is too low for %s: %d client connections need at least %d descriptors (two a connection, client and upstream, and %d for the listeners, etcd and the audit path); raise the limit (ulimit -n, the container runtime's)",
		limit, asked, want, fdReserve+2*want, fdReserve)
}

// fitConns lowers maxConns to what the open-files limit leaves room for,
// saying so, or refuses a limit below CheckOpenFiles's. Past the limit,
// accept fails on every listener (the admin one too: /metrics and
// /readyz went dark under a flood of idle connections) and no upstream
// can be dialled.
func fitConns(maxConns int, log zerolog.Logger) (int, error) {
	if err := CheckOpenFiles(maxConns); err != nil {
		return 0, err
	}
	limit, room, ok := connRoom()
	if !ok || int64(maxConns) <= room {
		return maxConns, nil
	}
	log.Warn().Int("max_conns", maxConns).Uint64("open_files_limit", limit).Int64("effective_max_conns", room).
		Msg("--max-conns lowered to fit the open-files limit (two descriptors a connection, client and upstream, and some for the admin listener, etcd and the audit path); raise the limit (ulimit -n, the container runtime's) to allow more")
	return int(room), nil
}

// connRoom returns the soft open-files limit and the client connections
// it leaves room for, or false when it is unlimited (RLIM_INFINITY) or
// as good as, or cannot be read.
func connRoom() (limit uint64, room int64, ok bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<40 {
		return 0, 0, false
	}
	return rl.Cur, (int64(rl.Cur) - fdReserve) / 2, true
}
