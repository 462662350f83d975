package collector

import (
	"bufio"
	"cmp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/debpkg"
)

// TestHeadWrittenThroughBeforeItsRename: head.json was renamed into place
// without an fsync of the file (nor of the directory after), so a crash
// could leave it renamed but unwritten: empty, which the start had to
// take as a recorded break, and so took an emptied or garbled head too.
// Every head is now fsync'd before its rename, and the heads signed on
// the timer (SignHead), at a rotation and at the start are followed by
// an fsync of the directory (the head after each append is not: a lost
// rename leaves the head before it, whole). The system calls of a real
// store writing real files are read with strace (installed when missing
// and it can be, debpkg); the test is skipped where strace cannot trace.
func TestHeadWrittenThroughBeforeItsRename(t *testing.T) {
	if os.Getenv("PORTCULLIS_HEADSYNC_DIR") != "" {
		t.Skip("the helper's own run")
	}
	strace := debpkg.Path(t, "strace", "strace")
	dir := t.TempDir()
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, "-f", "-qq", "-o", trace, "-e", "trace=openat,fsync,fdatasync,rename,renameat,renameat2",
		os.Args[0], "-test.run=^TestHelperHeadWrites$", "-test.v")
	cmd.Env = append(os.Environ(), "PORTCULLIS_HEADSYNC_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "--- PASS: TestHelperHeadWrites") {
		if strings.Contains(string(out), "PTRACE") || strings.Contains(string(out), "Operation not permitted") {
			t.Skipf("strace cannot trace here: %s", out)
		}
		t.Fatalf("the helper under strace: %v\n%s", err, out)
	}
	renames := headRenames(t, trace, dir)
	if len(renames) < 7 {
		t.Fatalf("%d renames of head.json traced, want at least 7 (the first head, 4 appends, the timer's, the rotation's): %+v", len(renames), renames)
	}
	for i, r := range renames {
		if !r.fileSynced {
			t.Errorf("rename %d of head.json (%s): the file renamed into place was not fsync'd before the rename", i, cmp.Or(r.mark, "an append's head"))
		}
		if r.mark != "" && !r.dirSynced {
			t.Errorf("rename %d of head.json (%s): the directory was not fsync'd after it", i, r.mark)
		}
	}
}

// TestHelperHeadWrites is not a test: run by TestHeadWrittenThroughBeforeItsRename
// under strace, it opens a store and signs its head every way it is
// signed, opening a file named mark-WHAT in the store before each way
// that must fsync the directory after the rename.
func TestHelperHeadWrites(t *testing.T) {
	dir := os.Getenv("PORTCULLIS_HEADSYNC_DIR")
	if dir == "" {
		t.Skip("run by TestHeadWrittenThroughBeforeItsRename")
	}
	mark := func(what string) {
		f, err := os.OpenFile(filepath.Join(dir, "mark-"+what), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	key := newTestKey(t)
	mark("the first head")
	st := openTestStore(t, dir, key, StoreConfig{}, 0, 4)
	mark("the timer's head")
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	mark("the rotation's head")
	if err := st.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// headRename is one rename over head.json the trace shows: whether the
// file renamed was fsync'd after it was opened and before the rename,
// whether the directory was fsync'd after it (opened and fsync'd before
// any other file is opened),
// and the mark opened just before it, if any.
type headRename struct {
	mark                  string
	fileSynced, dirSynced bool
}

// headRenames reads an strace -f log of the calls openat, fsync and the
// renames, joining the calls strace split around another thread's.
func headRenames(t *testing.T, trace, dir string) []headRename {
	t.Helper()
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	call := regexp.MustCompile(`^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$`)
	quoted := regexp.MustCompile(`"([^"]*)"`)
	ret := regexp.MustCompile(`= (-?\d+)`)
	pending := map[string]string{} // pid: the start of a call strace split
	fdPath := map[int]string{}
	synced := map[string]bool{} // a path opened: fsync'd since
	var renames []headRename
	var mark string
	window := false // since the last head rename, no file opened but the directory
	head := filepath.Join(dir, headFile)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := call.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pid, name, rest := m[1], m[3], m[4]
		if m[2] != "" { // the end of a split call
			name, rest = m[2], pending[pid]+rest
			delete(pending, pid)
		}
		if i := strings.Index(rest, " <unfinished ...>"); i >= 0 {
			pending[pid] = rest[:i]
			continue
		}
		args := quoted.FindAllStringSubmatch(rest, -1)
		r := ret.FindStringSubmatch(rest)
		if r == nil || strings.HasPrefix(r[1], "-") {
			continue // failed
		}
		switch name {
		case "openat":
			if len(args) == 0 {
				continue
			}
			fd, _ := strconv.Atoi(r[1])
			path := args[0][1]
			fdPath[fd] = path
			synced[path] = false
			window = window && path == dir
			if w, ok := strings.CutPrefix(path, filepath.Join(dir, "mark-")); ok {
				mark = w
			}
		case "fsync", "fdatasync":
			fd, _ := strconv.Atoi(strings.TrimRight(strings.SplitN(rest, ")", 2)[0], " "))
			path := fdPath[fd]
			synced[path] = true
			if path == dir && window {
				renames[len(renames)-1].dirSynced = true
			}
		case "rename", "renameat", "renameat2":
			if len(args) < 2 || args[1][1] != head {
				continue
			}
			renames = append(renames, headRename{mark: mark, fileSynced: synced[args[0][1]]})
			mark, window = "", true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return renames
}
