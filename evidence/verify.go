package evidence

import (
	"archive/zip"
	"bufio"
	"bytes"
	"cmp"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Verify checks a pack folder: the manifest's signature with pub, every
// listed file's SHA-256, that the folder holds no file the manifest
// does not list (the staged manifest files an interrupted Approve left
// are named as such, in one problem of their own), and that a folder named for a period ("evidence-2026-Q2")
// holds the pack of that period (the manifest's Period Covered). It
// returns one line per problem; none means intact.
func Verify(dir string, pub ed25519.PublicKey) ([]string, error) {
	if _, err := os.Stat(dir); err != nil {
		// Not "manifest.json: removed", the words of a tampered pack.
		return nil, fmt.Errorf("no pack at %q: %w", dir, err)
	}
	lock, err := lockPack(dir, syscall.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	problems, _, err := verifyPack(dir, pub)
	return problems, err
}

// verifyPack is Verify of a folder already locked, and returns the rows
// of the manifest it checked.
func verifyPack(dir string, pub ed25519.PublicKey) ([]string, []ManifestRow, error) {
	problems, rows, err := verifyDir(dir, pub)
	if err != nil {
		return nil, nil, err
	}
	if p := nameProblem(filepath.Base(filepath.Clean(dir)), rows); p != "" && rows != nil { // nil: the signature failed
		problems = append(problems, p)
	}
	return problems, rows, nil
}

// packPrefix begins the name of a pack's folder and zip: evidence-<Period>.
const packPrefix = "evidence-"

// coveredName returns the period the manifest rows cover, by name
// ("2026-Q2", without a partial pack's "(partial, to ...)"), or "" when
// the rows name none or several.
func coveredName(rows []ManifestRow) string {
	name := ""
	for i := range rows {
		p, _, _ := strings.Cut(rows[i].Period, " (")
		if name != "" && p != name {
			return ""
		}
		name = p
	}
	return name
}

// nameProblem says how name, a pack folder's (or zip's, without .zip),
// names a period other than the one the signed rows cover, or "": a name
// not of the form evidence-<Period> claims no period.
func nameProblem(name string, rows []ManifestRow) string {
	claimed, ok := strings.CutPrefix(name, packPrefix)
	if !ok {
		return ""
	}
	if covered := coveredName(rows); claimed != covered {
		return fmt.Sprintf("%s: named for period %s, but its signed manifest covers period %s", shown(name), shown(claimed), cmp.Or(covered, "(none, or several)"))
	}
	return ""
}

// Covered returns the period the signed manifest of a pack (a folder, or
// a zip ending .zip) covers, as its Period Covered says it: check the
// pack with Verify or VerifyZip first.
func Covered(path string) (string, error) {
	var j []byte
	var err error
	if strings.HasSuffix(path, ".zip") {
		j, err = zipManifest(path)
	} else {
		j, err = readPackFile(filepath.Join(path, ManifestJSON))
	}
	if err != nil {
		return "", fmt.Errorf("cannot read the manifest of pack %q: %w", path, err)
	}
	var rows []ManifestRow
	if err := json.Unmarshal(j, &rows); err != nil {
		return "", fmt.Errorf("cannot decode the manifest of pack %q: %w", path, err)
	}
	if len(rows) == 0 || coveredName(rows) == "" {
		return "", fmt.Errorf("the manifest of pack %q covers no one period", path)
	}
	return rows[0].Period, nil
}

// zipManifest reads manifest.json from a pack's zip.
func zipManifest(path string) ([]byte, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	for _, f := range zr.File {
		if filepath.Base(f.Name) != ManifestJSON {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return readManifest(rc, ManifestJSON)
	}
	return nil, fmt.Errorf("no %s in the zip", ManifestJSON)
}

// verifyDir is Verify but for the folder's name, and returns the
// manifest's rows.
func verifyDir(dir string, pub ed25519.PublicKey) ([]string, []ManifestRow, error) {
	j, err := readPackFile(filepath.Join(dir, ManifestJSON))
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the manifest of pack %q: %s", dir, unreadable(ManifestJSON, err))
	}
	// The signature first: a manifest it does not cover is anyone's, and
	// nothing of it is acted on. Its rows name the files to read and
	// hash, and before, a forged one's rows named files outside the pack
	// ("../x"), as many times as it liked, and decoded to far more memory
	// than its size (TestVerifyActsOnNoRowOfAnUnsignedManifest).
	if err := verifySignature(dir, j, pub); err != nil {
		return []string{err.Error()}, nil, nil
	}
	var rows []ManifestRow
	if err := json.Unmarshal(j, &rows); err != nil {
		return nil, nil, fmt.Errorf("cannot decode the manifest of pack %q: %w", dir, err)
	}
	var problems []string
	if c, err := readPackFile(filepath.Join(dir, ManifestCSV)); err != nil {
		problems = append(problems, unreadable(ManifestCSV, err))
	} else if want, err := manifestCSV(rows); err != nil || !bytes.Equal(c, want) {
		problems = append(problems, fmt.Sprintf("%s: changed (differs from the signed %s)", ManifestCSV, ManifestJSON))
	}
	listed := []string{ManifestCSV, ManifestJSON, ManifestSig}
	for _, r := range rows {
		if r.File == "" || r.File == "." || r.File == ".." || strings.ContainsAny(r.File, `/\`) {
			problems = append(problems, fmt.Sprintf("%s: the signed manifest names a file that is not in the pack's folder", shown(r.File)))
			continue
		}
		listed = append(listed, r.File)
		sum, err := hashPackFile(filepath.Join(dir, r.File))
		if err != nil {
			problems = append(problems, unreadable(r.File, err))
			continue
		}
		if sum != r.SHA256 {
			problems = append(problems, fmt.Sprintf("%s: changed (SHA-256 differs from the manifest)", r.File))
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot list pack %q: %w", dir, err)
	}
	var leftovers []string
	for _, e := range entries {
		switch {
		case slices.Contains(listed, e.Name()):
		case e.Type().IsRegular() && isStagedManifest(e.Name()):
			leftovers = append(leftovers, e.Name())
		default:
			problems = append(problems, fmt.Sprintf("%s: added (not in the manifest)", shown(e.Name())))
		}
	}
	if len(leftovers) > 0 {
		// Not tampering, but not a clean pack either: an auditor is
		// handed a folder with files the manifest does not list.
		problems = append(problems, fmt.Sprintf("%s: left by an interrupted evidence approve; run evidence approve again or remove them", strings.Join(leftovers, ", ")))
	}
	return problems, rows, nil
}

// lockPack locks the pack folder dir until the returned file is closed:
// shared (syscall.LOCK_SH) to read the pack, exclusive (LOCK_EX) to write
// it. Approve replaces the manifest's three files one rename at a time,
// and a Verify between two renames found the new manifest.json with the
// old signature, or a new file under its temporary name, and called an
// intact pack tampered. Anything but a folder is refused at once, never
// waited on (a named pipe given as the folder).
func lockPack(dir string, how int) (*os.File, error) {
	d, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot open pack %q: %w", dir, err)
	}
	// A file system without locks (NFS mounted nolock) reads and writes
	// the pack as before: unlocked.
	if err := syscall.Flock(int(d.Fd()), how); err != nil && err != syscall.ENOLCK && err != syscall.EOPNOTSUPP {
		d.Close()
		return nil, fmt.Errorf("cannot lock pack %q: %w", dir, err)
	}
	return d, nil
}

// shown is a name from the folder or the zip as a problem names it: as it
// is, or quoted when it holds a character that is not printable (a
// control, an escape, a bidirectional override), which would otherwise
// reach the terminal reading evidence verify's output and could print a
// line of its own, or hide the lines after it.
func shown(name string) string {
	if strings.IndexFunc(name, func(c rune) bool { return !strconv.IsPrint(c) }) >= 0 {
		return strconv.Quote(name)
	}
	return name
}

// errNotRegular is a pack folder's file that is a link, a named pipe or
// anything else but a regular file.
var errNotRegular = errors.New("not a regular file")

// openPackFile opens a file of a pack folder to read: a regular file only,
// never through a link, and without waiting for the writer of a planted
// named pipe (O_NONBLOCK), which never comes.
func openPackFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, errNotRegular
	}
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, errNotRegular
	}
	return f, nil
}

// readPackFile reads a manifest of a pack folder (openPackFile), up to
// maxManifest bytes.
func readPackFile(path string) ([]byte, error) {
	f, err := openPackFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readManifest(f, filepath.Base(path))
}

// maxManifest bounds what is read of a manifest file (manifest.json,
// manifest.csv, manifest.json.sig) before its signature is checked. A
// pack holds one file per row of controls.csv (16) and index.html, and
// its manifest a row of a few hundred bytes for each, about 7 KB; the
// longest text of a row, its owner, is a line of --owner-map, which
// bufio.Scanner ends at 64 KiB, so no real manifest reaches 2 MiB.
// Before, one was read up to 1 GiB into memory, anyone's to write until
// the signature that comes after is checked
// (TestVerifyRefusesAnOversizedManifest).
const maxManifest = 16 << 20

// readManifest reads r, the manifest file name of a pack, refusing one
// longer than maxManifest.
func readManifest(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxManifest+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifest {
		return nil, fmt.Errorf("%s is larger than %d MiB, which no pack's manifest reaches: not read", name, maxManifest>>20)
	}
	return b, nil
}

// hashPackFile returns the hex SHA-256 of a file of a pack folder
// (openPackFile).
func hashPackFile(path string) (string, error) {
	f, err := openPackFile(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// unreadable is the problem of a pack file that cannot be read: removed,
// not a regular file, or the error.
func unreadable(name string, err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s: removed", name)
	case errors.Is(err, errNotRegular):
		return fmt.Sprintf("%s: not a regular file (a link, a named pipe...)", name)
	}
	return fmt.Sprintf("%s: cannot be read: %v", name, err)
}

// ParseOwnerMap reads an owner map: one "Area = owner" a line (Auth, Rate
// Limit, Logging, Abuse, Privileged Endpoint); blank lines and lines
// starting with # are skipped.
func ParseOwnerMap(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read owner map %q: %w", path, err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		area, owner, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(area) == "" || strings.TrimSpace(owner) == "" {
			return nil, fmt.Errorf("owner map %s:%d: want \"Area = owner\", got %q", path, n, line)
		}
		m[strings.TrimSpace(area)] = strings.TrimSpace(owner)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read owner map %q: %w", path, err)
	}
	return m, nil
}

// VerifyZip checks a pack's zip as Verify checks its folder: it unpacks
// the zip's files (flat, one folder deep, as Pack writes them) into a
// temporary folder and verifies that. The entry of that folder itself
// (zip -r writes one, "evidence-2026-05/", without content) is no file of
// the pack and is passed over. An entry in any other place, or in
// another folder than the first entry's, is a problem, not a path to
// write to; a zip, or a folder in it, named for
// another period than the manifest covers is one too.
func VerifyZip(path string, pub ed25519.PublicKey) ([]string, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open pack zip %q: %w", path, err)
	}
	defer zr.Close()
	var size uint64
	for _, f := range zr.File {
		if size += f.UncompressedSize64; size > maxZipUnpacked || size < f.UncompressedSize64 {
			return nil, fmt.Errorf("pack zip %q unpacks to more than %d MiB (its entries' sizes): no pack is that large, and it is not unpacked", path, maxZipUnpacked>>20)
		}
	}
	tmp, err := os.MkdirTemp("", "evidence-verify-")
	if err != nil {
		return nil, fmt.Errorf("cannot make a folder to unpack %q: %w", path, err)
	}
	defer os.RemoveAll(tmp)
	var problems []string
	names := []string{strings.TrimSuffix(filepath.Base(path), ".zip")}
	folder := "" // the one folder of the pack's files, the first entry's
	for i, f := range zr.File {
		dir, name := filepath.Split(filepath.ToSlash(f.Name))
		if d := strings.TrimSuffix(dir, "/"); d != "" && !slices.Contains(names, d) {
			names = append(names, d)
		}
		if i == 0 {
			folder = dir
		}
		if folderEntry(f, dir, name) && dir == folder {
			continue // zip -r records the folder itself: nothing to unpack
		}
		if name == "" || name == "." || name == ".." || strings.Count(dir, "/") > 1 || strings.Contains(dir, "..") || f.FileInfo().IsDir() {
			problems = append(problems, fmt.Sprintf("%s: unexpected entry in the zip", shown(f.Name)))
			continue
		}
		if dir != folder {
			// Unzipped, it lies beside the pack's folder, not in it.
			problems = append(problems, fmt.Sprintf("%s: unexpected entry in the zip (outside the folder %s of its other files)", shown(f.Name), shown(cmp.Or(folder, "(top)"))))
			continue
		}
		if err := unzipOne(f, filepath.Join(tmp, name)); err != nil {
			return nil, err
		}
	}
	more, rows, err := verifyDir(tmp, pub)
	if err != nil {
		return nil, err
	}
	problems = append(problems, more...)
	for _, n := range names {
		if p := nameProblem(n, rows); p != "" && rows != nil { // nil: the signature failed
			problems = append(problems, p)
		}
	}
	return problems, nil
}

// folderEntry reports whether f, split into dir and name, is the entry of
// a folder one deep, as zip -r writes for the folder it packs: a name
// ending in '/' and no content.
func folderEntry(f *zip.File, dir, name string) bool {
	return name == "" && strings.Count(dir, "/") == 1 && dir != "/" && !strings.Contains(dir, "..") && f.FileInfo().IsDir() &&
		f.UncompressedSize64 == 0 && f.CompressedSize64 == 0
}

// maxZipEntry bounds one unpacked file, against a zip bomb.
const maxZipEntry = 1 << 30

// maxZipUnpacked bounds the sum of the sizes a pack's zip declares for its
// entries, checked before VerifyZip unpacks any: archive/zip refuses an
// entry whose data runs past its declared size, so the declared sum
// bounds what is written. Each entry was bounded, not their sum, and a
// zip of a few MiB holding entries of zeros filled the temporary folder
// (TestVerifyZipRefusesAZipBomb). A pack of 10,000,000 records is a few
// MiB.
const maxZipUnpacked = 1 << 30

func unzipOne(f *zip.File, dst string) error {
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("cannot read %q in the zip: %w", f.Name, err)
	}
	defer rc.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("cannot unpack %q (twice in the zip?): %w", f.Name, err)
	}
	defer out.Close()
	if _, err := io.Copy(out, io.LimitReader(rc, maxZipEntry)); err != nil {
		return fmt.Errorf("cannot unpack %q: %w", f.Name, err)
	}
	return nil
}
