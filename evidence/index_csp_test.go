package evidence

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestIndexRunsNoScriptAndFetchesNothing: index.html is opened in a
// browser, and printed to PDF by Chromium, by whoever reviews the pack.
// Its texts are escaped, but the page itself allowed everything: any
// markup that reached it (a future field left unescaped, a file edited
// on the way) ran script and fetched from anywhere, with the page's file:
// origin. The page now carries a Content-Security-Policy that allows its
// own inline style and nothing else: no script, no image, frame, style
// sheet or font from anywhere. Real headless Chromium renders a copy of a
// real pack's index.html with such markup planted in it; a loopback
// server counts what reaches it.
func TestIndexRunsNoScriptAndFetchesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("renders with headless Chromium; not in -short")
	}
	bin := chromium(t)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		t.Logf("fetched %s", r.URL)
	}))
	defer srv.Close()
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	page, err := os.ReadFile(filepath.Join(res.Dir, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	planted := `<script>document.body.setAttribute("data-ran","yes")</script>` +
		`<img src="` + srv.URL + `/img"><iframe src="` + srv.URL + `/frame"></iframe><link rel="stylesheet" href="` + srv.URL + `/css">` +
		`<div style="background:url(` + srv.URL + `/bg)">x</div><img src=x onerror="document.body.setAttribute('data-ran','yes')">`
	copyPath := filepath.Join(t.TempDir(), IndexFile)
	if err := os.WriteFile(copyPath, []byte(strings.Replace(string(page), "</body>", planted+"</body>", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := string(headless(t, bin, copyPath, "--dump-dom", "--virtual-time-budget=3000"))
	if strings.Contains(dom, `data-ran="yes"`) {
		t.Error("a script planted in index.html ran")
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("rendering index.html fetched %d URLs from the loopback server", n)
	}
	if !strings.Contains(dom, `<svg id="daily"`) {
		t.Error("the page's own charts are not in the DOM")
	}
}
