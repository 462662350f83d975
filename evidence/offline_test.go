package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOfflineVerificationSteps runs the shell block of docs/evidence.md,
// "Checking a pack without Portcullis", on a real pack: an auditor can
// check the manifest's signature, every file's digest and the store's
// signed head with OpenSSL and Python alone. Before, the only documented
// check was `portcullis evidence verify`, the auditee's own binary. It
// must pass on the pack and fail after a one-byte change of a file.
func TestOfflineVerificationSteps(t *testing.T) {
	for _, tool := range []string{"bash", "openssl", "python3", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the documented steps need it", tool)
		}
	}
	doc, err := os.ReadFile("../docs/evidence.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Checking a pack without Portcullis\n.*?```sh\n(.*?)\n```\n").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/evidence.md has no shell block under \"Checking a pack without Portcullis\"")
	}
	script := m[1]
	data, key := t.TempDir(), newKey(t)
	activity(t, data, key)
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d"})
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "collector.pub")
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() (string, error) {
		// The block writes its scratch files to /tmp; each run gets its own.
		sh := strings.ReplaceAll(string(script), "/tmp/", t.TempDir()+"/")
		cmd := exec.Command("bash", "-c", sh)
		cmd.Dir, cmd.Env = res.Dir, append(os.Environ(), "PUB="+pub)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run()
	if err != nil || strings.Count(out, "Signature Verified Successfully") != 2 || !strings.Contains(out, "every file matches the manifest") {
		t.Fatalf("the documented steps on an intact pack: %v\n%s", err, out)
	}
	checklist := filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md"))
	b, err := os.ReadFile(checklist)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(checklist, bytes.Replace(b, []byte("| No |"), []byte("| Ye |"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(); err == nil || !strings.Contains(out, "CHANGED: "+filepath.Base(checklist)) {
		t.Errorf("the documented steps on a changed pack: %v, want a failure naming the checklist\n%s", err, out)
	}
}
