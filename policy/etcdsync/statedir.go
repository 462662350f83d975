package etcdsync

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// CheckStateDir refuses a state directory that someone other than this
// process's user could write: its last-known-good file is the policy
// served while etcd is unreachable, and its checksum line stops a torn
// write, not an edit (lkgChecksum). A directory writable by its group or
// by others, or owned by another user, lets that user plant a policy
// that admits anything; the sidecar then does not start, as sshd refuses
// a key file others can write.
func CheckStateDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot inspect state directory %q: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("state directory %q is not a directory", dir)
	}
	return private(fi, "state directory", dir)
}

// private says why fi, the directory or file at path, is not private to
// this process's user: writable by its group or others, or owned by
// another user.
func private(fi fs.FileInfo, what, path string) error {
	if m := fi.Mode().Perm(); m&0o022 != 0 {
		return fmt.Errorf("%s %q is writable by its group or by others (mode %04o): whoever can write there can plant the policy served while etcd is unreachable; make it private to this user (chmod go-w %q)", what, path, m, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := os.Geteuid(); int(st.Uid) != uid {
			return fmt.Errorf("%s %q is owned by user %d, not by this process's user %d: that user can plant the policy served while etcd is unreachable; give it to this user (chown %d %q)", what, path, st.Uid, uid, uid, path)
		}
	}
	return nil
}
