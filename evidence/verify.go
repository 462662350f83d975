package evidence

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
