package alert

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Text from outside (an Alertmanager payload's alert name, fingerprint
// and labels; a record's fields as its sender wrote them) reaches tickets
// and operators' terminals as text: plainText makes each field one line
// of printable characters, and each sink's payload escapes what its markup
// would act on (fence in GitHub, noformat in Jira, &<> in Slack).

// plainText returns s with every control character (C0 with newlines, DEL,
// C1), bidirectional control and line or paragraph separator replaced by
// a space, and invalid UTF-8 by U+FFFD: a field cannot start a line of its
// own in a ticket, hide text or move a terminal's cursor.
func plainText(s string) string {
	clean := true
	for _, c := range s {
		if c == utf8.RuneError || unprintable(c) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range s {
		if unprintable(c) {
			c = ' '
		}
		b.WriteRune(c)
	}
	return b.String()
}

// PlainText is plainText for the commands that print text from the
// trail or etcd to a terminal (approvals show and list).
func PlainText(s string) string { return plainText(s) }

// Unprintable reports whether c is a character PlainText replaces: the
// commands' JSON output escapes these (\uXXXX) where encoding/json
// leaves them as they are (DEL, C1, bidirectional controls).
func Unprintable(c rune) bool { return unprintable(c) }

// unprintable reports whether c is a control, bidirectional control or
// line separator character.
func unprintable(c rune) bool {
	return c < 0x20 || c >= 0x7f && c < 0xa0 || c >= 0x200e && c <= 0x200f || c >= 0x2028 && c <= 0x202e ||
		c >= 0x2066 && c <= 0x2069 || c == 0x061c
}

// plainAlert returns a copy of a whose text fields are plainText.
func plainAlert(a *Alert) *Alert {
	c := a.clone()
	for _, p := range []*string{&c.ID, &c.Rule, &c.Kind, &c.Severity, &c.Group, &c.Key, &c.Tenant, &c.Client, &c.KeyID,
		&c.Status, &c.Window, &c.RuleAction, &c.Previous, &c.Note, &c.CorrectiveAction} {
		*p = plainText(*p)
	}
	for i := range c.RequestIDs {
		c.RequestIDs[i] = plainText(c.RequestIDs[i])
	}
	for i := range c.FoldedKeys {
		c.FoldedKeys[i] = plainText(c.FoldedKeys[i])
	}
	for i := range c.Tickets {
		c.Tickets[i].Sink, c.Tickets[i].Key = plainText(c.Tickets[i].Sink), plainText(c.Tickets[i].Key)
	}
	for i := range c.History {
		h := &c.History[i]
		h.Action, h.Actor, h.Reason, h.Ticket = plainText(h.Action), plainText(h.Actor), plainText(h.Reason), plainText(h.Ticket)
		if ca, ok := h.Details["corrective_action"]; ok {
			h.Details = map[string]string{"corrective_action": plainText(ca)}
		}
	}
	return &c
}

// githubFenced returns text in a Markdown code block whose fence is
// longer than any run of backticks in it (CommonMark: the block ends only
// at a fence at least as long as the opening one).
func githubFenced(text string) string {
	longest, run := 0, 0
	for i := 0; i < len(text); i++ {
		if text[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", max(3, longest+1))
	return fence + "\n" + strings.TrimSuffix(text, "\n") + "\n" + fence + "\n"
}

// MarkdownText returns text from outside as one line of Markdown that
// renders as the text: plainText, then the characters that make links,
// images, HTML, emphasis, code spans and mentions escaped with a backslash
// (none a credential holds, so a scan for one still finds it; "_" is left,
// as API keys hold it).
func MarkdownText(s string) string {
	return markdownEscaper.Replace(Unlinked(plainText(s)))
}

// Unlinked returns s with what a GitHub- or GitLab-flavoured Markdown
// renderer would make a link of by itself (GFM's extended autolinks)
// bracketed, as threat reports write a URL not to be followed: every
// "://" (the http://, https:// and ftp:// of a URL autolink, and any
// other scheme) reads "[:]//", a "www." no letter, digit or "-" comes
// before reads "www[.]", and an "@" after a character an e-mail address
// can hold before it (letters, digits, ".", "+", "_", "-": a bare e-mail
// autolink, and mailto: and xmpp:) reads "[@]". Escaping the character
// with a backslash is not enough: renderers such as cmark-gfm join the
// escaped character to the text around it before they look for links.
// No credential pattern holds ":", "@" or "www." (a JWT's segments are
// joined by "."; a segment ending in "_www" is the one exception), so a
// scan of the text still finds one.
func Unlinked(s string) string {
	if strings.Contains(s, "://") {
		s = strings.ReplaceAll(s, "://", "[:]//")
	}
	if strings.Contains(s, "@") {
		s = emailAt.ReplaceAllString(s, "${1}[@]")
	}
	var b strings.Builder
	last := 0
	for i := 0; i+4 <= len(s); i++ {
		if strings.EqualFold(s[i:i+4], "www.") && (i == 0 || !wordByte(s[i-1])) {
			b.WriteString(s[last : i+3])
			b.WriteString("[.]")
			last = i + 4
		}
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// emailAt is the "@" of a bare e-mail autolink: after a character its
// local part can hold.
var emailAt = regexp.MustCompile(`([A-Za-z0-9.+_-])@`)

// wordByte reports whether a "www." after c is no autolink's start: a
// letter, digit or "-" before it makes it the middle of a word.
func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

var markdownEscaper = strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`,
	"&", `\&`, "@", `\@`)

// codeSpan returns text from outside as a Markdown code span (in which
// nothing is markup), plainText and delimited by a run of backticks
// longer than any in it (CommonMark), padded with a space when it starts
// or ends with one.
func codeSpan(s string) string {
	s = plainText(s)
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	d := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return d + s + d
}

// noformatTag is Jira wiki markup's {noformat} tag, which ends the block,
// in any case.
var noformatTag = regexp.MustCompile(`(?i)\{noformat`)

// jiraNoformat returns text as one Jira wiki {noformat} block: nothing in
// it is markup (links, images, macros, mentions).
func jiraNoformat(text string) string {
	return "{noformat}\n" + noformatTag.ReplaceAllString(strings.TrimSuffix(text, "\n"), "{ noformat") + "\n{noformat}"
}

// slackEscaper escapes the three characters Slack's message text
// formatting acts on (links, mentions such as <!channel>).
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackText is text from outside as Slack shows it literally: its &, <
// and > escaped (Slack's documented escaping), and what Slack would make
// a link of by itself (a URL, a www. host, an e-mail address) bracketed
// (Unlinked). Slack has no escape for mrkdwn's *bold*, _italic_ and
// ~strike~, so the messages carry it in fields Slack does not format:
// slackMessage.
func slackText(s string) string { return slackEscaper.Replace(Unlinked(plainText(s))) }

// slackMessage is an incoming webhook's message of lines (each
// slackText already): the top-level text unformatted ("mrkdwn": false)
// and in one section block as plain_text, which Slack never formats, and
// no link preview fetched for it ("unfurl_links", "unfurl_media" false).
func slackMessage(lines ...string) map[string]any {
	text := strings.Join(lines, "\n")
	return map[string]any{"text": text, "mrkdwn": false, "unfurl_links": false, "unfurl_media": false,
		"blocks": []any{map[string]any{"type": "section", "text": map[string]any{"type": "plain_text", "text": text, "emoji": false}}}}
}

// jiraLabel is s as a Jira label: Jira refuses a label with a space (the
// issue would never be filed), or longer than 255 characters.
func jiraLabel(s string) string {
	s = strings.Join(strings.Fields(s), "_")
	if len(s) > 255 {
		s = strings.ToValidUTF8(s[:255], "")
	}
	return s
}
