package evidence

import (
	"bytes"
	"crypto/ed25519"
	_ "embed"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/durable"
)

// controlsCSV maps each evidence file (Area-Name) to its controls, area and
// framework: the editable control mapping shipped with the project.
//
//go:embed controls.csv
var controlsCSV []byte

// ManifestRow is one evidence file in the manifest, with the columns of an
// evidence library (SharePoint) plus its digest and file name.
type ManifestRow struct {
	Title        string `json:"Evidence Title"`
	ControlID    string `json:"Control ID"`
	Area         string `json:"API Control Area"`
	Framework    string `json:"Framework"`
	Owner        string `json:"Evidence Owner"`
	Period       string `json:"Period Covered"`
	Source       string `json:"Source System"`
	ReviewStatus string `json:"Review Status"`
	SHA256       string `json:"SHA-256"`
	File         string `json:"File Name"`
}

// manifestHeader is the CSV header, in ManifestRow's order.
var manifestHeader = []string{"Evidence Title", "Control ID", "API Control Area", "Framework", "Evidence Owner",
	"Period Covered", "Source System", "Review Status", "SHA-256", "File Name"}

type control struct{ id, area, framework string }

// controls parses the shipped control mapping.
func controls() (map[string]control, error) {
	rows, err := csv.NewReader(bytes.NewReader(controlsCSV)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("cannot read the control mapping: %w", err)
	}
	m := map[string]control{}
	for _, r := range rows[1:] {
		m[r[0]] = control{id: r[1], area: r[2], framework: r[3]}
	}
	return m, nil
}

func (b *builder) row(f file, name, sum string) ManifestRow {
	c := mapping[f.area+"-"+f.name]
	owner := b.cfg.Owners[c.area]
	if owner == "" {
		owner = "unassigned"
	}
	return ManifestRow{
		Title: f.area + " " + f.name, ControlID: c.id, Area: c.area, Framework: c.framework, Owner: owner,
		Period: b.periodCovered(), Source: "Portcullis", ReviewStatus: "Uploaded", SHA256: sum, File: name,
	}
}

// mapping is the parsed control mapping; a broken embedded file is a bug.
var mapping = func() map[string]control {
	m, err := controls()
	if err != nil {
		panic("BUG: " + err.Error())
	}
	return m
}()

func (r *ManifestRow) cells() []string {
	return []string{r.Title, r.ControlID, r.Area, r.Framework, r.Owner, r.Period, r.Source, r.ReviewStatus, r.SHA256, r.File}
}

// manifestFiles makes manifest.csv, manifest.json and, with a key,
// manifest.json.sig.
func manifestFiles(rows []ManifestRow, key ed25519.PrivateKey) ([]packFile, error) {
	c, err := manifestCSV(rows)
	if err != nil {
		return nil, err
	}
	j, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cannot encode the manifest: %w", err)
	}
	j = append(j, '\n')
	out := []packFile{{ManifestCSV, c}, {ManifestJSON, j}}
	if key != nil {
		out = append(out, packFile{ManifestSig, []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(key, j)) + "\n")})
	}
	return out, nil
}

// manifestCSV is the CSV twin of the manifest's rows. Verify rebuilds it
// from the signed manifest.json, so a change in the CSV is found too.
func manifestCSV(rows []ManifestRow) ([]byte, error) {
	var c bytes.Buffer
	w := csv.NewWriter(&c)
	w.Write(manifestHeader)
	for i := range rows {
		w.Write(csvCells(rows[i].cells()...))
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("cannot write the manifest CSV: %w", err)
	}
	return c.Bytes(), nil
}

// replaceFile writes data to a new file in dir (created, never opened
// through a link), syncs it, renames it to name and syncs dir: after a
// crash name holds the old data or the new, whole.
func replaceFile(dir, name string, data []byte) error {
	tmp, err := stageFile(dir, name, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return durable.SyncDir(dir)
}

// stageFile writes data to a new file in dir named after name (created,
// never opened through a link, so a link planted under any name is never
// written through) and syncs it; it returns the file's path, for the
// caller to rename into place or remove. On error nothing is left behind.
func stageFile(dir, name string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// csvCells passes every cell through alert.PlainText, then
// collector.CSVCell: a cell holds a sender's text (a record's tenant,
// client, route, request id, a batch's pod), and a control character (an
// escape sequence for the terminal of whoever prints the file), a line
// separator or a bidirectional override (which reverses the rest of the
// cell in a spreadsheet) becomes a space, so a formula behind one gets
// its apostrophe too (TestPackCSVAndIndexKeepOutsideTextPrintable).
func csvCells(s ...string) []string {
	for i := range s {
		s[i] = collector.CSVCell(alert.PlainText(s[i]))
	}
	return s
}

// VerifySignature checks manifest.json in dir against its signature.
func VerifySignature(dir string, pub ed25519.PublicKey) error {
	j, err := readPackFile(filepath.Join(dir, ManifestJSON))
	if err != nil {
		return fmt.Errorf("cannot read the manifest: %w", err)
	}
	return verifySignature(dir, j, pub)
}

// verifySignature checks j, manifest.json as read from dir, against the
// signature in dir: the bytes whose rows are then used, not the file
// read again, which may have been replaced meanwhile.
func verifySignature(dir string, j []byte, pub ed25519.PublicKey) error {
	s, err := readPackFile(filepath.Join(dir, ManifestSig))
	if err != nil {
		return fmt.Errorf("cannot read the manifest signature: %w", err)
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(s)))
	if err != nil || !ed25519.Verify(pub, j, sig) {
		return fmt.Errorf("%s: signature (%s) in %q does not verify with the given key", ManifestJSON, ManifestSig, dir)
	}
	return nil
}
