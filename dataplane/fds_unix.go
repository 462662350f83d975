//go:build unix

package dataplane

import (
	"syscall"

	"github.com/rs/zerolog"
)

// fdReserve is the descriptors kept back from client connections for
// everything else: the listeners, the admin listener and its scrapes,
// etcd, the audit file or spool and the collector, the Go runtime.
const fdReserve = 128

// fitConns lowers maxConns to what the open-files limit leaves room for,
// saying so: each client connection may hold an upstream one, so two
// descriptors a connection, plus fdReserve. Past the limit, accept fails
// on every listener (the admin one too: /metrics and /readyz went dark
// under a flood of idle connections) and no upstream can be dialled.
func fitConns(maxConns int, log zerolog.Logger) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<40 { // unlimited (RLIM_INFINITY) or as good as
		return maxConns
	}
	room := max((int64(rl.Cur)-fdReserve)/2, 16)
	if int64(maxConns) <= room {
		return maxConns
	}
	log.Warn().Int("max_conns", maxConns).Uint64("open_files_limit", uint64(rl.Cur)).Int64("effective_max_conns", room).
		Msg("--max-conns lowered to fit the open-files limit (two descriptors a connection, client and upstream, and some for the admin listener, etcd and the audit path); raise the limit (ulimit -n, the container runtime's) to allow more")
	return int(room)
}
