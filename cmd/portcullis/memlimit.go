package main

import (
	"os"
	"runtime/debug"

	"github.com/portcullis/portcullis/internal/cgroup"
	"github.com/rs/zerolog"
)

// cgroupRoot is where the long-running commands read the container's
// memory limit, along the path cgroupSelf names; TestHelperPortcullis
// points them at a test's files.
var cgroupRoot, cgroupSelf = cgroup.Root, cgroup.Self

// setGoMemoryLimit sets the Go runtime's soft memory limit
// (debug.SetMemoryLimit) to 90% of the container's memory limit read
// under root along the path self names (cgroup.MemoryLimit), unless the operator set GOMEMLIMIT (the runtime applied it
// at start, and it stands), and logs once what it set and from where, or
// why it set none (but for no cgroup files at all under root). The
// sidecar, the collector and the injector call it at start.
//
// Without it the garbage collector lets the heap grow to twice the live
// heap (GOGC=100) before collecting, whatever the container's limit: the
// injector's eight 4 MiB reviews at once hold 60-68 MiB live
// (TestWebhookBoundsConcurrentMemory), a heap goal of 120-136 MiB against
// its 128Mi, and the kernel kills the process past the limit. The other
// 10% is for what the cgroup charges and the Go runtime does not count:
// the binary's pages (about 20 MB resident, clean file pages the kernel
// reclaims before it kills) and the kernel's socket buffers. The limit is
// soft: a live heap above it is kept, the garbage collector then using
// at most half the CPU, rather than failing.
func setGoMemoryLimit(log zerolog.Logger, root, self string) {
	if os.Getenv("GOMEMLIMIT") != "" {
		log.Info().Int64("go_memory_limit", debug.SetMemoryLimit(-1)).Str("from", "GOMEMLIMIT").
			Msg("Go memory limit set by GOMEMLIMIT; the container's memory limit is not read")
		return
	}
	limit, file, err := cgroup.MemoryLimit(root, self)
	switch {
	case err != nil:
		log.Warn().Err(err).Msg("no Go memory limit set: the container's memory limit cannot be read (GOMEMLIMIT sets one)")
	case file == "":
		// No limit file there nor along the process's cgroup: not
		// Linux, nothing to follow and nothing to say.
	case limit == 0:
		log.Info().Str("from", file).Msg("no Go memory limit set: the container has no memory limit")
	default:
		goLimit := limit - limit/10
		debug.SetMemoryLimit(goLimit)
		log.Info().Int64("go_memory_limit", goLimit).Int64("container_memory_limit", limit).Str("from", file).
			Msg("Go memory limit set to 90% of the container's memory limit")
	}
}
