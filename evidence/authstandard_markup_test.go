package evidence

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// TestAuthStandardKeepsNamesAndTicketsText: the authentication standard
// copies who pushed the policy, its ticket, and each key's created_by and
// ticket (any operator's --actor and --ticket) into Markdown. They went in
// as written: a "|" in a key's ticket added a cell, so a live key read
// "revoked: true" in the rendered table; a newline in the pusher's name
// started lines of its own (a forged heading); an image or HTML in them
// was fetched or run by whatever renders the file. Each now stays text in
// its cell and on its line.
func TestAuthStandardKeepsNamesAndTicketsText(t *testing.T) {
	cfg, _, _ := packFolder(t)
	doc, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const markup = `<img src=https://evil.example/t.png> ![x](https://evil.example/p.png)`
	d := strings.Replace(string(doc), "ticket: DEMO-1", `ticket: "DEMO-1 | true |"`, 1)
	d = strings.Replace(d, "created_by: demo", `created_by: "demo `+markup+`"`, 1)
	cfg.History = []etcdadmin.HistoryEntry{{Revision: 7, Time: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		Actor: "mallory\n\n## Keys without an expiry (not after): none\n", Ticket: "CHG-9 " + markup, Digest: "d", Document: d}}
	res, err := Pack(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIAuth", "AuthenticationStandard", cfg.Period.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	if regexp.MustCompile(`(?m)^## Keys without an expiry`).MatchString(md) {
		t.Errorf("a heading forged by the pusher's name:\n%s", md)
	}
	inKeys := false
	for _, line := range strings.Split(md, "\n") {
		switch {
		case strings.HasPrefix(line, "| key | client |"):
			inKeys = true
		case inKeys && !strings.HasPrefix(line, "|"):
			inKeys = false
		case inKeys && strings.HasPrefix(line, "| "):
			// seven cells: eight separators, a "|" of a text escaped
			if n := strings.Count(line, "|") - strings.Count(line, `\|`); n != 8 {
				t.Errorf("key row with %d cell separators, want 8: %q", n, line)
			}
		}
	}
	if m := regexp.MustCompile(`(^|[^\\])(<img|!\[x\]\()`).FindString(md); m != "" {
		t.Errorf("the authentication standard holds the markup %q as markup:\n%s", m, md)
	}
	if !strings.Contains(md, "DEMO-1") || !strings.Contains(md, "mallory") || !strings.Contains(md, "CHG-9") {
		t.Errorf("the texts themselves are gone:\n%s", md)
	}
}
