package dataplane

import (
	"github.com/portcullis/portcullis/internal/fds"
	"github.com/rs/zerolog"
)

// budget spends the sidecar's descriptors: two a client connection,
// client and upstream, and 128 kept back for everything else: the
// listeners, the admin listener and its scrapes, etcd, the audit file or
// spool and the collector, the Go runtime. With fewer than 16 client
// connections, a kubelet probe and a few clients hold them all.
var budget = fds.Budget{
	Reserve: 128, PerConn: 2, MinConns: 16,
	Conns:       "client connections",
	PerConnText: "two a connection, client and upstream,",
	ReserveFor:  "the listeners, etcd and the audit path",
}

// CheckOpenFiles returns an error when the soft open-files limit leaves
// room for fewer than 16 client connections (fewer than maxConns, when
// it is smaller and not 0): two descriptors a connection, client and
// upstream, and 128 for the rest (budget). The sidecar refuses such a
// limit at start; it had raised the cap to a floor of 16 above it, and at
// ulimit -n 12 the first idle connections took every descriptor, the
// admin listener's accept among them
// (TestSidecarRefusesOpenFilesLimitBelowConnCap).
func CheckOpenFiles(maxConns int) error {
	return budget.Check(maxConns)
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
	limit, room, ok := budget.Room()
	if !ok || int64(maxConns) <= room {
		return maxConns, nil
	}
	log.Warn().Int("max_conns", maxConns).Uint64("open_files_limit", limit).Int64("effective_max_conns", room).
		Msg("--max-conns lowered to fit the open-files limit (two descriptors a connection, client and upstream, and some for the admin listener, etcd and the audit path); raise the limit (ulimit -n, the container runtime's) to allow more")
	return int(room), nil
}
