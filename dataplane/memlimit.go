package dataplane

import "github.com/portcullis/portcullis/internal/cgroup"

// cgroupRoot is where the container's memory limit is read (cgroup v2's
// memory.max, else v1's memory/memory.limit_in_bytes, along the path
// /proc/self/cgroup names: cgroup.MemoryLimit). A test points it
// elsewhere.
var cgroupRoot = cgroup.Root

// connReserve is the memory kept for everything but client connections
// when --max-conns is sized to the memory limit: the binary's pages, the
// policy tables, the audit ring, the upstream pool (docs/performance.md, "Memory":
// 25-30 MiB under load).
const connReserve = 48 << 20

// connCost is the memory a client connection may take without any
// credential, with room to spare: its header buffer (MaxHeaderBytes,
// 16 KiB), a body of up to preBodyFree (16 KiB), its exchange, its
// goroutine's stack, and the garbage collector's headroom over them.
// TestMaxConnsFitMemoryLimit measures the first four (about 39 KiB, both
// ends of the socket counted).
const connCost = 64 << 10

// tlsConnCost is connCost on a TLS listener, whose connections also hold
// crypto/tls's record buffers: TestMaxConnsFitMemoryLimit measures 64-81
// KiB, both ends counted.
const tlsConnCost = 96 << 10

// defaultMaxConns is Config.MaxConns when none is set: 10,000, or fewer
// when the container's memory limit cannot hold that many connections of
// connCost (tlsConnCost on a TLS listener) beside connReserve (at least
// 256).
func defaultMaxConns(tls bool) int {
	limit := memoryLimit()
	if limit <= 0 {
		return 10000
	}
	cost := int64(connCost)
	if tls {
		cost = tlsConnCost
	}
	return int(min(max((limit-connReserve)/cost, 256), 10000))
}

// memoryLimit returns the container's memory limit in bytes, or 0 when
// there is none or it cannot be read (the long-running commands log why,
// as they set the Go memory limit from it).
func memoryLimit() int64 {
	limit, _, err := cgroup.MemoryLimit(cgroupRoot, cgroup.Self)
	if err != nil {
		return 0
	}
	return limit
}
