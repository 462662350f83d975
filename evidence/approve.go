package evidence

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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

// ErrManifestTorn is returned (wrapped) by Approve when a manifest file
// could not be renamed into place and the ones already renamed could not
// be put back: the pack no longer verifies until it is made again.
var ErrManifestTorn = errors.New("evidence: the pack's manifest files are torn")

// Approve sets the Review Status of file name in the manifest of dir to
// status (Approved or Rejected), signs the manifest again with key and
// rebuilds the zip beside the folder. It returns the revision record
// returned.
//
// It holds the folder's exclusive lock throughout (lockPack), so a Verify
// sees the manifest before or after, never half of it. Under the lock it
// first removes the staged files an approve killed before renaming them
// left behind (removeLeftovers: approve's own, never the pack's), then
// checks the pack again and signs only the rows of the manifest.json that
// verified: one edited since CheckApproval (a forged file and its digest)
// is refused before anything is written or recorded. It then stages the
// new manifest.csv, manifest.json and manifest.json.sig (written under
// temporary names in the folder and synced) and calls record, when not
// nil, with the row of name as verified: the approval is recorded only
// for a manifest ready to be signed, and when record fails the staged
// files are removed and the pack is unchanged. Only then are the staged
// files renamed into place (never through a link) and the zip replaced
// in one rename. An error after record returned is one where the record
// was made but the pack not (or not wholly) updated; the revision is
// returned with it.
func Approve(dir, name, status string, key ed25519.PrivateKey, record func(ManifestRow) (int64, error)) (int64, error) {
	if status != StatusApproved && status != StatusRejected {
		return 0, fmt.Errorf("review status %q: want %s or %s", status, StatusApproved, StatusRejected)
	}
	lock, err := lockPack(dir, syscall.LOCK_EX)
	if err != nil {
		return 0, err
	}
	defer lock.Close()
	if err := removeLeftovers(dir); err != nil {
		return 0, err
	}
	rows, verified, err := approvedRows(dir, name, status, key)
	if err != nil {
		return 0, err
	}
	st, err := stageManifest(dir, rows, key)
	if err != nil {
		return 0, err
	}
	var rev int64
	if record != nil {
		if rev, err = record(verified); err != nil {
			st.remove()
			return 0, err
		}
	}
	if err := st.commit(); err != nil {
		return rev, err
	}
	if err := refreshZip(dir, rows); err != nil {
		return rev, fmt.Errorf("the manifest of pack %q was re-signed, but its zip was not rebuilt: %w", dir, err)
	}
	return rev, nil
}

// approvedRows checks the locked pack in dir and returns its verified
// rows with name's Review Status set to status, and name's row as it
// verified.
func approvedRows(dir, name, status string, key ed25519.PrivateKey) ([]ManifestRow, ManifestRow, error) {
	rows, err := checkedRows(dir, key)
	if err != nil {
		return nil, ManifestRow{}, err
	}
	i := slices.IndexFunc(rows, func(r ManifestRow) bool { return r.File == name })
	if i < 0 {
		return nil, ManifestRow{}, fmt.Errorf("file %q is not in the manifest of %q", name, dir)
	}
	verified := rows[i]
	rows[i].ReviewStatus = status
	return rows, verified, nil
}

// refreshZip rebuilds the zip beside the folder dir from the files rows
// list, when there is one.
func refreshZip(dir string, rows []ManifestRow) error {
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
