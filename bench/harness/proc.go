package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// proc is a child process the harness started (a target, the upstream or
// the collector).
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // file with its stdout and stderr
}

// start runs argv pinned to cpu (-1: no pinning) with extra environment,
// its output going to dir/name.log.
func start(dir, name string, cpu int, env []string, argv ...string) (*proc, error) {
	if cpu >= 0 && pinning {
		argv = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
	}
	logPath := filepath.Join(dir, name+".log")
	out, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("cannot create log for %s: %w", name, err)
	}
	defer out.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	// The children must not outlive the harness, whatever ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s (%s): %w", name, argv[0], err)
	}
	return &proc{name: name, cmd: cmd, log: logPath}, nil
}

// stop ends p with SIGTERM, then SIGKILL after 5 s.
func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// tail returns the last lines of p's log, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-8):], "\n")
}

// tree returns p's pid and those of its descendants (nginx's worker).
func (p *proc) tree() []int {
	root := p.cmd.Process.Pid
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f, ok := statFields(pid); ok {
			ppid, _ := strconv.Atoi(f[1])
			children[ppid] = append(children[ppid], pid)
		}
	}
	pids := []int{root}
	for i := 0; i < len(pids); i++ {
		pids = append(pids, children[pids[i]]...)
	}
	return pids
}

// statFields returns the fields of /proc/pid/stat after the command name:
// [0] is the state (field 3 in proc(5)), [1] ppid, [11] utime, [12] stime.
func statFields(pid int) ([]string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, false
	}
	f := strings.Fields(s[i+1:])
	return f, len(f) > 12
}

// cpu returns the CPU time (user + system) used so far by p and its
// descendants.
func (p *proc) cpu() time.Duration {
	var ticks int64
	for _, pid := range p.tree() {
		if f, ok := statFields(pid); ok {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + s
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// selfCPU returns the CPU time (user + system) this process (the load
// generator) used so far.
func selfCPU() time.Duration {
	f, ok := statFields(os.Getpid())
	if !ok {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / clockTicks
}

// peakRSS returns the sum of VmHWM over p and its descendants, in bytes.
func (p *proc) peakRSS() int64 {
	var total int64
	for _, pid := range p.tree() {
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				total += kb << 10
			}
		}
		f.Close()
	}
	return total
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("cannot find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitTCP waits until addr accepts connections or p exits.
func waitTCP(p *proc, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		if p.cmd.ProcessState != nil || syscall.Kill(p.cmd.Process.Pid, 0) != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not listen on %s:\n%s", p.name, addr, p.tail())
}

// cpuOrZero is p.cpu(), or 0 for the direct target (no proxy).
func (p *proc) cpuOrZero() time.Duration {
	if p == nil {
		return 0
	}
	return p.cpu()
}
