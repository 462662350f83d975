package evidence

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/debpkg"
)

// chromium returns the path of Debian's chromium, installing it when it
// is missing and the test runs as root with apt-get (as in CI; debpkg).
func chromium(t *testing.T) string { return debpkg.Path(t, "chromium", "chromium") }

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// headless runs chromium headless on page with extra flags and returns
// its standard output.
func headless(t *testing.T, bin, page string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, "file://"+page)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %q: %v\n%s", extra, err, lastLines(stderr.Bytes(), 10))
	}
	return stdout.Bytes()
}

// TestIndexRendersInChromium renders a real pack's index.html with
// headless Chromium to PNG and PDF and checks, in the DOM Chromium built,
// that the three SVG charts are there with their bars and events. With
// PORTCULLIS_EVIDENCE_PNG set, the PNG is copied there (docs/evidence-index.png).
func TestIndexRendersInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("renders with headless Chromium; not in -short")
	}
	bin := chromium(t)
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: out, SigningKey: key, Retention: "400d"})
	if err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(res.Dir, IndexFile)

	dom := string(headless(t, bin, page, "--dump-dom"))
	for _, want := range []string{`<svg id="daily"`, `<svg id="tenants"`, `<svg id="timeline"`,
		"<title>2026-05-06 429: 2</title>", "<title>acme requests: 9</title>", "key.revoke acmehris1 by alice"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the DOM Chromium built lacks %q", want)
		}
	}
	if n := strings.Count(dom, "<circle"); n != 7 {
		t.Errorf("the DOM's timeline has %d events, want 7", n)
	}

	render := t.TempDir()
	pngPath, pdfPath := filepath.Join(render, "index.png"), filepath.Join(render, "index.pdf")
	headless(t, bin, page, "--hide-scrollbars", "--window-size=1100,1400", "--screenshot="+pngPath)
	headless(t, bin, page, "--no-pdf-header-footer", "--print-to-pdf="+pdfPath)

	pdf, err := os.ReadFile(pdfPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || len(pdf) < 10_000 {
		t.Errorf("PDF is %d bytes starting %q; want a PDF of at least 10 kB", len(pdf), pdf[:min(len(pdf), 8)])
	}
	raw, err := os.ReadFile(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1100 || b.Dy() != 1400 {
		t.Errorf("screenshot is %v, want 1100x1400", b)
	}
	if n := colours(img); n < 5 {
		t.Errorf("screenshot has %d colours; want the charts' bar colours on the page", n)
	}
	if !hasColour(img, 0x4c, 0x78, 0xa8) || !hasColour(img, 0xb2, 0x79, 0xa2) {
		t.Error("screenshot lacks the allowed (#4c78a8) or 429 (#b279a2) bars")
	}
	if dst := os.Getenv("PORTCULLIS_EVIDENCE_PNG"); dst != "" {
		if err := os.WriteFile(dst, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// colours counts the distinct colours of img, up to 1000.
func colours(img image.Image) int {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y && len(seen) < 1000; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
		}
	}
	return len(seen)
}

// hasColour reports whether some pixel of img is exactly r, g, b.
func hasColour(img image.Image, r, g, b uint32) bool {
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if pr>>8 == r && pg>>8 == g && pb>>8 == b {
				return true
			}
		}
	}
	return false
}
