package alert

import (
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
)

// TestReportMarkdownKeepsOutsideTextText: incident report is a Markdown
// document, pasted into a post-mortem or a ticket, and it copied text from
// outside with its markup live: an Alertmanager alert's name and
// fingerprint (any collector token's), a client's request ids (its
// X-Request-Id) and the key ids a guesser sent. An image fetched a URL
// when the report was viewed, an @mention pinged a team, a link pointed
// anywhere; a backtick in the rule's name closed its code span. Outside
// text is now escaped (the assessment stays in its code block: a line of
// it never holds a fence alone).
func TestReportMarkdownKeepsOutsideTextText(t *testing.T) {
	t.Parallel()
	const markup = "```\n@security-team ![t](https://evil.example/t.png) <img src=https://evil.example/i.png> [click](https://evil.example)"
	a := hostileAlert()
	a.RequestIDs = []string{"r-1 " + markup}
	a.Previous = markup
	a.Note, a.CorrectiveAction = markup, markup
	a.History = []Change{{Action: ActionClose, Actor: "bob " + markup, Reason: markup}}
	a.Tickets = []Ticket{{Sink: "jira", Key: "SEC-1 " + markup}}
	r := &Report{Alert: *a, Assessment: &Assessment{Client: "acme-hris", KeyIDs: map[string]int64{"````\n# Forged heading\n" + markup: 3}},
		Containment: []ContainmentChange{{Event: collector.Event{Action: "client.suspend", Target: "acme-hris", Actor: "bob", Reason: markup}}},
		Enforcement: []Enforced{{Pod: markup, Sender: markup, RequestID: markup, Decision: "suspended"}}}
	var b strings.Builder
	if err := WriteMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	// Markup outside the code spans of the rule and group and the
	// assessment's code block.
	live := regexp.MustCompile(`(^|[^\\])(!\[t\]|<img|\[click\]|@security-team)`)
	inBlock := false
	for _, l := range strings.Split(md, "\n") {
		switch {
		case l == "```":
			inBlock = !inBlock
		case inBlock:
		case strings.HasPrefix(l, "- rule: "), strings.HasPrefix(l, "- group: "):
			span, rest := codeSpanOf(t, l)
			if m := live.FindString(rest); m != "" || span == "" {
				t.Errorf("line %q: code span %q, then %q as markup", l, span, m)
			}
		default:
			if m := live.FindString(l); m != "" {
				t.Errorf("the report holds %q as markup: %q", m, l)
			}
		}
	}
	if regexp.MustCompile(`(?m)^# Forged heading`).MatchString(md) {
		t.Errorf("a heading forged by a key id:\n%s", md)
	}
}

// codeSpanOf returns the first code span of line (CommonMark: a run of
// backticks, then text up to a run of the same length) and what follows
// it; "" when it has none.
func codeSpanOf(t *testing.T, line string) (span, rest string) {
	t.Helper()
	i := strings.IndexByte(line, '`')
	if i < 0 {
		return "", line
	}
	n := i
	for n < len(line) && line[n] == '`' {
		n++
	}
	d := line[i:n]
	for j := n; j < len(line); {
		k := strings.Index(line[j:], d)
		if k < 0 {
			return "", line
		}
		k += j
		e := k + len(d)
		if (k == 0 || line[k-1] != '`') && (e == len(line) || line[e] != '`') {
			return line[i:e], line[e:]
		}
		for e < len(line) && line[e] == '`' {
			e++
		}
		j = e
	}
	return "", line
}
