package load

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// realtime moves every thread of the process to SCHED_FIFO at priority prio
// and returns a function that moves them back to the scheduling policy and
// niceness they had (threads started meanwhile get the policy of the first
// thread). Under SCHED_OTHER a generator woken at its due time waits for the
// core while anything else of equal or better standing runs there (the
// upstream, other work on the machine), which is schedule lag; a SCHED_FIFO
// thread preempts them at once (docs/performance.md, "Schedule lag"). It
// needs root (CAP_SYS_NICE); on error nothing is left changed.
//
// The Go runtime's threads only spin for a few microseconds before they
// sleep, and the kernel keeps 5% of every second for other tasks
// (sched_rt_runtime_us), so a generator at 1,000-2,000 requests a second
// leaves the core to the upstream between its sends.
func realtime(prio int) (restore func(), err error) {
	saved := map[int]*unix.SchedAttr{}
	var first *unix.SchedAttr
	back := func() {
		tids, _ := threads()
		for _, tid := range tids {
			a := saved[tid]
			if a == nil {
				a = first
			}
			if a != nil {
				unix.SchedSetAttr(tid, a, 0)
			}
		}
	}
	tids, err := threads()
	if err != nil {
		return nil, err
	}
	fifo := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(prio)}
	for _, tid := range tids {
		a, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			continue // the thread has exited
		}
		if first == nil {
			first = a
		}
		saved[tid] = a
		if err := unix.SchedSetAttr(tid, fifo, 0); err != nil {
			back()
			return nil, fmt.Errorf("cannot set SCHED_FIFO %d on thread %d: %w", prio, tid, err)
		}
	}
	return back, nil
}

// threads lists the thread ids of the process.
func threads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("cannot list threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
