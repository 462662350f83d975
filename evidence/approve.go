package evidence

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Review statuses of a manifest row.
const (
	StatusRequested = "Requested"
	StatusUploaded  = "Uploaded"
	StatusApproved  = "Approved"
	StatusRejected  = "Rejected"
)

// CheckApproval checks that the pack in dir is intact under key's public
// half and lists name, and returns its row. Approve a file only after it.
func CheckApproval(dir, name string, key ed25519.PrivateKey) (ManifestRow, error) {
	if _, err := os.Stat(dir); err != nil {
		return ManifestRow{}, fmt.Errorf("no pack at %q: %w", dir, err)
	}
	lock, err := lockPack(dir, syscall.LOCK_SH)
	if err != nil {
		return ManifestRow{}, err
	}
	defer lock.Close()
	rows, err := checkedRows(dir, key)
	if err != nil {
		return ManifestRow{}, err
	}
	for _, r := range rows {
		if r.File == name {
			return r, nil
		}
	}
	return ManifestRow{}, fmt.Errorf("file %q is not in the manifest of %q", name, dir)
}

// Approve sets the Review Status of file name in the manifest of dir to
// status (Approved or Rejected), rewrites manifest.csv and manifest.json,
// signs the manifest again with key and rebuilds the zip beside the folder.
// It holds the folder's lock meanwhile (lockPack), so a Verify sees the
// manifest before or after, never half of it; the zip is replaced in one
// rename. It checks the pack again under the lock and signs only the rows
// of the manifest.json that verified: one edited since CheckApproval (a
// forged file and its digest) is refused, never signed with key.
func Approve(dir, name, status string, key ed25519.PrivateKey) error {
	if status != StatusApproved && status != StatusRejected {
		return fmt.Errorf("review status %q: want %s or %s", status, StatusApproved, StatusRejected)
	}
	lock, err := lockPack(dir, syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer lock.Close()
	rows, err := checkedRows(dir, key)
	if err != nil {
		return err
	}
	found := false
	for i := range rows {
		if rows[i].File == name {
			rows[i].ReviewStatus, found = status, true
		}
	}
	if !found {
		return fmt.Errorf("file %q is not in the manifest of %q", name, dir)
	}
	if err := writeManifest(dir, rows, key); err != nil {
		return err
	}
	zip := filepath.Clean(dir) + ".zip"
	if _, err := os.Stat(zip); err != nil {
		return nil // no zip beside the folder: nothing to refresh
	}
	files, err := readPackFiles(dir, rows)
	if err != nil {
		return err
	}
	return writeZip(dir, files, zip)
}

// checkedRows verifies the locked pack in dir with key's public half and
// returns the rows of the manifest.json that verified.
func checkedRows(dir string, key ed25519.PrivateKey) ([]ManifestRow, error) {
	problems, rows, err := verifyPack(dir, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("pack %q does not verify (%s); rebuild it before approving", dir, strings.Join(problems, "; "))
	}
	return rows, nil
}

// readPackFiles reads the files the manifest rows list, and the manifest's
// own, from dir, never through a link: the zip holds those and nothing
// else the folder may hold.
func readPackFiles(dir string, rows []ManifestRow) ([]packFile, error) {
	names := []string{ManifestCSV, ManifestJSON, ManifestSig}
	for _, r := range rows {
		names = append(names, r.File)
	}
	files := make([]packFile, 0, len(names))
	for _, n := range names {
		f, err := os.OpenFile(filepath.Join(dir, filepath.Base(n)), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return nil, fmt.Errorf("cannot read %q of pack %q (never through a link): %w", n, dir, err)
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("cannot read %q of pack %q: %w", n, dir, err)
		}
		files = append(files, packFile{filepath.Base(n), data})
	}
	return files, nil
}
