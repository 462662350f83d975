package fds

import "testing"

// The sidecar's and the collector's budgets, as dataplane and collector
// declare them: their errors are word for word what each said before one
// implementation served both (TestSidecarRefusesOpenFilesLimitBelowConnCap,
// TestCollectorRefusesOpenFilesLimitBelowConnCap run the programs).
var (
	sidecar = Budget{Reserve: 128, PerConn: 2, MinConns: 16, Conns: "client connections",
		PerConnText: "two a connection, client and upstream,", ReserveFor: "the listeners, etcd and the audit path"}
	collector = Budget{Reserve: 192, PerConn: 1, MinConns: 16, Conns: "connections",
		PerConnText: "one a connection", ReserveFor: "the store, etcd and the metrics listener"}
)

func TestCheckAt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		b        Budget
		limit    uint64
		ok       bool
		maxConns int
		want     string
	}{
		{"sidecar default", sidecar, 12, true, 0, "open-files limit 12 (ulimit -n) is too low for the default --max-conns: 16 client connections need at least 160 descriptors (two a connection, client and upstream, and 128 for the listeners, etcd and the audit path); raise the limit (ulimit -n, the container runtime's)"},
		{"sidecar asked", sidecar, 131, true, 2, "open-files limit 131 (ulimit -n) is too low for --max-conns 2: 2 client connections need at least 132 descriptors (two a connection, client and upstream, and 128 for the listeners, etcd and the audit path); raise the limit (ulimit -n, the container runtime's)"},
		{"sidecar fits", sidecar, 132, true, 2, ""},
		{"sidecar floor", sidecar, 160, true, 0, ""},
		{"collector default", collector, 100, true, 0, "open-files limit 100 (ulimit -n) is too low for the default --max-conns: 16 connections need at least 208 descriptors (one a connection and 192 for the store, etcd and the metrics listener); raise the limit (ulimit -n, the container runtime's)"},
		{"collector fits", collector, 208, true, 4096, ""},
		{"no limit", collector, 0, false, 4096, ""},
	} {
		err := tc.b.checkAt(tc.limit, tc.ok, tc.maxConns)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
