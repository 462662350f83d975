package tmpfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/debpkg"
)

// Ext4 mounts an ext4 filesystem of size bytes, from an image file on a
// loop device, at a new directory and returns it with fail, which makes
// the filesystem read-only as the kernel does on an error it cannot
// repair (errors=remount-ro: every write fails with EROFS from then on,
// through descriptors opened before as well; a remount cannot do that
// while files are open for writing). It installs mkfs.ext4 and losetup
// where they are missing (debpkg: as root with apt-get, as CI runs) and
// skips tb where it cannot (not root, no loop device, no ext4
// trigger_fs_error). The
// mount goes when tb ends.
func Ext4(tb testing.TB, size int) (dir string, fail func()) {
	tb.Helper()
	// Installed where missing, as root with apt-get (CI), so none skips there.
	mkfs := debpkg.Path(tb, "mkfs.ext4", "e2fsprogs", "--no-install-recommends")
	mount := debpkg.Path(tb, "mount", "mount")
	losetup := debpkg.Path(tb, "losetup", "mount")
	base := tb.TempDir()
	img, dir := filepath.Join(base, "fs.img"), filepath.Join(base, "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Truncate(img, int64(size)); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", img).CombinedOutput(); err != nil {
		tb.Skipf("mkfs.ext4: %v: %s", err, out)
	}
	if out, err := exec.Command(mount, "-o", "loop,errors=remount-ro", img, dir).CombinedOutput(); err != nil {
		tb.Skipf("cannot mount an ext4 image on a loop device (needs root and /dev/loop*): %v: %s", err, out)
	}
	tb.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	out, err := exec.Command(losetup, "-j", img, "-O", "NAME", "-n").Output()
	dev := filepath.Base(strings.TrimSpace(string(out)))
	trigger := filepath.Join("/sys/fs/ext4", dev, "trigger_fs_error")
	if _, serr := os.Stat(trigger); err != nil || dev == "." || serr != nil {
		tb.Skipf("no %s to make the filesystem read-only as an error does: %v %v", trigger, err, serr)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	return dir, func() {
		tb.Helper()
		if err := os.WriteFile(trigger, []byte(strconv.Itoa(1)), 0o200); err != nil {
			tb.Fatalf("make %s read-only: %v", dir, err)
		}
	}
}
