package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/portcullis/portcullis/evidence"
)

// evidencePack writes the evidence pack of the demo's month from what the
// collector stored, prints its manifest as a table and verifies it. The
// pack is kept in a folder of its own so that its index.html can be opened
// after the demo.
func (d *demo) evidencePack() error {
	out, err := os.MkdirTemp("", "portcullis-demo-evidence-")
	if err != nil {
		return err
	}
	period := time.Now().UTC().Format("2006-01")
	fmt.Printf("\n== portcullis evidence pack --period %s --data DIR --policy examples/policy.yaml --signing-key KEY --published-head HEAD --out %s\n", period, out)
	cmd := exec.Command(d.bin, "evidence", "pack", "--period", period, "--data", filepath.Join(d.data, "audit"),
		"--policy", filepath.Join("examples", "policy.yaml"), "--signing-key", filepath.Join(d.data, "audit-signing.key"),
		"--published-head", filepath.Join(d.data, "published-head.json"),
		"--out", out) // the retention setting comes from the store's signed head
	b, err := cmd.CombinedOutput()
	fmt.Print(string(b))
	if err != nil {
		return fmt.Errorf("evidence pack: %w", err)
	}
	dir := filepath.Join(out, "evidence-"+period)
	if err := printManifest(dir); err != nil {
		return err
	}
	fmt.Printf("\n== portcullis evidence verify --public-key KEY.pub %s.zip\n", dir)
	b, err = exec.Command(d.bin, "evidence", "verify", "--public-key", filepath.Join(d.data, "audit-signing.key.pub"), dir+".zip").CombinedOutput()
	fmt.Print(string(b))
	if err != nil {
		return fmt.Errorf("evidence verify: %w", err)
	}
	fmt.Printf("open %s in a browser for the summary and its charts\n", filepath.Join(dir, evidence.IndexFile))
	return nil
}

// printManifest prints the pack's manifest.json as a table.
func printManifest(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, evidence.ManifestJSON))
	if err != nil {
		return err
	}
	var rows []evidence.ManifestRow
	if err := json.Unmarshal(b, &rows); err != nil {
		return fmt.Errorf("manifest %q: %w", dir, err)
	}
	fmt.Printf("\n== the pack's manifest (%s)\n", evidence.ManifestCSV)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "File Name\tAPI Control Area\tControl ID\tEvidence Owner\tReview Status\tSHA-256")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%.12s\n", r.File, r.Area, r.ControlID, r.Owner, r.ReviewStatus, r.SHA256)
	}
	return w.Flush()
}
