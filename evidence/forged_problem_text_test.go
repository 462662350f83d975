package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestPackPrintsVerifyProblemsAsText: the integrity proof lists audit
// verify's problems, and a break entry's reason is text from the store,
// which whoever edits its files writes (an unsigned entry is reported,
// its reason with it). Before, the reason went into the Markdown file as
// the entry held it: a newline in it wrote "Result: OK" on a line of its
// own under the FAILED one, and an HTML tag went in as markup (attack802).
func TestPackPrintsVerifyProblemsAsText(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ev := collector.Event{Time: time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC), Key: "/p/events/k1", Revision: 3,
		Actor: "carol", Action: "key.create", Target: "k1", Ticket: "CHG-7", Reason: "new integration"}
	if err := st.AppendEvents([]collector.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	reason := "none\n\nResult: OK\n\n<img src=\"https://evil.example/x.png\"> \x1b[8m"
	body, err := json.Marshal(map[string]any{"seq": 999, "kind": collector.KindBreak, "time": time.Now().UTC(), "reason": reason})
	if err != nil {
		t.Fatal(err)
	}
	var prev [32]byte
	sum := sha256.Sum256(append(prev[:], body...))
	line := `{"prev":"` + hex.EncodeToString(prev[:]) + `","hash":"` + hex.EncodeToString(sum[:]) + `","body":` + string(body) + "}\n"
	f, err := os.OpenFile(filepath.Join(data, "seg-00000001.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(line); err != nil {
		t.Fatal(err)
	}
	f.Close()

	res := packMay(t, data, out, key)
	ret, err := os.ReadFile(filepath.Join(res.Dir, "APILogging-RetentionSettings-2026-05.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(ret)
	if !strings.Contains(text, "Result: FAILED") {
		t.Fatalf("the integrity proof does not say FAILED:\n%s", text)
	}
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "Result: OK") {
			t.Errorf("the integrity proof holds a line of the forged entry's own: %q\n%s", l, text)
		}
	}
	if strings.Contains(strings.ReplaceAll(text, `\<`, ""), "<img") || strings.Contains(text, "\x1b") {
		t.Errorf("the integrity proof holds the forged entry's markup or escape as it was:\n%q", text)
	}
}

// TestPackQuotesAPlantedHeadInItsBlock: the integrity proof quotes
// head.json in a code block, and head.json is a file whoever can edit the
// store writes (verify then fails its signature). Before, it was quoted
// in a fence of three backticks: a head holding a line of three closed
// the block, and what followed it ("Result: OK", HTML) was the file's own
// Markdown; escape sequences in it went in as they were (attack802).
func TestPackQuotesAPlantedHeadInItsBlock(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	planted := "{}\n```\n\n## Integrity proof\n\nResult: OK\n\n<img src=\"https://evil.example/x.png\">\x1b[8m\n````"
	if err := os.WriteFile(filepath.Join(data, "head.json"), []byte(planted), 0o644); err != nil {
		t.Fatal(err)
	}
	res := packMay(t, data, out, key)
	ret, err := os.ReadFile(filepath.Join(res.Dir, "APILogging-RetentionSettings-2026-05.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(ret)
	_, quoted, ok := strings.Cut(text, "## Signed head (head.json)\n\n")
	if !ok {
		t.Fatalf("the integrity proof does not quote head.json:\n%s", text)
	}
	lines := strings.Split(strings.TrimRight(quoted, "\n"), "\n")
	open := strings.TrimSuffix(lines[0], "json")
	if strings.Trim(open, "`") != "" || len(open) < 3 {
		t.Fatalf("head.json is not quoted in a code block: first line %q\n%s", lines[0], quoted)
	}
	for i, l := range lines[1 : len(lines)-1] {
		if strings.HasPrefix(strings.TrimLeft(l, " "), open) {
			t.Errorf("line %d of the quoted head closes its block (fence %q): %q\n%s", i+1, open, l, quoted)
		}
	}
	if last := lines[len(lines)-1]; last != open {
		t.Errorf("the quoted head's block ends with %q, want its fence %q\n%s", last, open, quoted)
	}
	if strings.Contains(text, "\x1b") {
		t.Errorf("the integrity proof holds the planted head's escape as it was:\n%q", quoted)
	}
}
