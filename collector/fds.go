package collector

import (
	"cmp"

	"github.com/portcullis/portcullis/internal/fds"
	"github.com/rs/zerolog"
)

// The connection cap within the open-files limit (internal/fds): one
// descriptor a connection, 192 kept back for the rest.

// DefaultMaxConns is Config.MaxConns (--max-conns) when 0: room for
// thousands of sidecars, each holding one kept-alive connection or a few,
// when the open-files limit leaves room for it (fitConns).
const DefaultMaxConns = 4096

// budget spends the collector's descriptors: one a connection, and 192
// kept back for the rest of the collector: segments being written and
// read, the head and its anchors, etcd, the ticket outbox, the metrics
// listener's connections (metricsMaxConns in cmd/portcullis), the Go
// runtime. It starts with 16 connections at least (unless --max-conns
// asks for fewer).
var budget = fds.Budget{
	Reserve: 192, PerConn: 1, MinConns: 16,
	Conns:       "connections",
	PerConnText: "one a connection",
	ReserveFor:  "the store, etcd and the metrics listener",
}

// CheckOpenFiles returns an error when the soft open-files limit leaves
// room for fewer than 16 connections (fewer than maxConns, when it is
// smaller and not 0): one descriptor a connection and 192 for the rest
// (budget). The collector refuses such a limit at start; it had raised
// the cap to a floor of 16 above it, so senders' connections could take
// the descriptors of the store and the listeners
// (TestCollectorRefusesOpenFilesLimitBelowConnCap).
func CheckOpenFiles(maxConns int) error {
	return budget.Check(maxConns)
}

// fitConns returns the connection cap for maxConns (0: DefaultMaxConns)
// within the soft open-files limit, one descriptor a connection and
// 192 for the rest, warning when it lowers one given (the program
// logs the cap it serves with: MaxConns), or CheckOpenFiles's error. With
// 4096 whatever the limit, connections under the common soft limit of
// 1024 took every descriptor before the cap: no segment, head or etcd
// connection could be opened, and the listeners accepted nothing (EMFILE)
// while they stayed.
func fitConns(maxConns int, log zerolog.Logger) (int, error) {
	if err := CheckOpenFiles(maxConns); err != nil {
		return 0, err
	}
	limit, room64, ok := budget.Room()
	if !ok {
		return cmp.Or(maxConns, DefaultMaxConns), nil
	}
	room := int(room64)
	switch {
	case maxConns == 0:
		maxConns = min(DefaultMaxConns, room)
	case maxConns > room:
		log.Warn().Int("max_conns", maxConns).Uint64("open_files_limit", limit).Int("effective_max_conns", room).
			Msg("--max-conns lowered to fit the open-files limit (one descriptor a connection, some kept for the store, etcd and the metrics listener); raise the limit (ulimit -n, the container runtime's) to allow more")
		maxConns = room
	}
	return maxConns, nil
}
