package evidence

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Verify checks a pack folder: the manifest's signature with pub, every
// listed file's SHA-256, and that the folder holds no file the manifest
// does not list. It returns one line per problem; none means intact.
func Verify(dir string, pub ed25519.PublicKey) ([]string, error) {
	j, err := os.ReadFile(filepath.Join(dir, ManifestJSON))
	if err != nil {
		return nil, fmt.Errorf("cannot read the manifest of pack %q: %w", dir, err)
	}
	var rows []ManifestRow
	if err := json.Unmarshal(j, &rows); err != nil {
		return nil, fmt.Errorf("cannot decode the manifest of pack %q: %w", dir, err)
	}
	var problems []string
	if err := VerifySignature(dir, pub); err != nil {
		problems = append(problems, err.Error())
	}
	if c, err := os.ReadFile(filepath.Join(dir, ManifestCSV)); err != nil {
		problems = append(problems, fmt.Sprintf("%s: removed", ManifestCSV))
	} else if want, err := manifestCSV(rows); err != nil || !bytes.Equal(c, want) {
		problems = append(problems, fmt.Sprintf("%s: changed (differs from the signed %s)", ManifestCSV, ManifestJSON))
	}
	listed := []string{ManifestCSV, ManifestJSON, ManifestSig}
	for _, r := range rows {
		listed = append(listed, r.File)
		b, err := os.ReadFile(filepath.Join(dir, r.File))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: removed", r.File))
			continue
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != r.SHA256 {
			problems = append(problems, fmt.Sprintf("%s: changed (SHA-256 differs from the manifest)", r.File))
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list pack %q: %w", dir, err)
	}
	for _, e := range entries {
		if !slices.Contains(listed, e.Name()) {
			problems = append(problems, fmt.Sprintf("%s: added (not in the manifest)", e.Name()))
		}
	}
	return problems, nil
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
// temporary folder and verifies that. An entry in any other place is a
// problem, not a path to write to.
func VerifyZip(path string, pub ed25519.PublicKey) ([]string, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open pack zip %q: %w", path, err)
	}
	defer zr.Close()
	tmp, err := os.MkdirTemp("", "evidence-verify-")
	if err != nil {
		return nil, fmt.Errorf("cannot make a folder to unpack %q: %w", path, err)
	}
	defer os.RemoveAll(tmp)
	var problems []string
	for _, f := range zr.File {
		dir, name := filepath.Split(filepath.ToSlash(f.Name))
		if name == "" || name == "." || name == ".." || strings.Count(dir, "/") > 1 || strings.Contains(dir, "..") || f.FileInfo().IsDir() {
			problems = append(problems, fmt.Sprintf("%s: unexpected entry in the zip", f.Name))
			continue
		}
		if err := unzipOne(f, filepath.Join(tmp, name)); err != nil {
			return nil, err
		}
	}
	more, err := Verify(tmp, pub)
	if err != nil {
		return nil, err
	}
	return append(problems, more...), nil
}

// maxZipEntry bounds one unpacked file, against a zip bomb.
const maxZipEntry = 1 << 30

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
