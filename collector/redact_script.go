package collector

// A password's value right after its name in another script, attached or
// after a particle (redactParticles: "비밀번호는hunter2", "密码是hunter2").

import (
	"strings"
	"unicode/utf8"
)

// redactParticles returns s with a secret written right after a
// password's name in a script other than Latin (scriptPasswords) and a
// particle or a linking verb of that script that joins it to its value
// (scriptParticles: Chinese 是, 为, 為; Japanese は, が; Korean 는, 은, 이,
// 가; Thai คือ, เป็น), then maybe spaces, or with neither particle nor
// space, replaced by Redacted: "密码是hunter2", "パスワードはhunter2です"
// were stored as sent (TestForeignNamesInOtherScriptsRedacted), and so
// were "비밀번호는hunter2입니다", "비밀번호는 hunter", "รหัสผ่านคือhunter2",
// "비밀번호hunter2", "парольhunter2"
// (TestForeignSecretsAttachedToScriptNamesRedacted). The value is the run
// of ASCII that follows (valueRun's bytes), unless it is one of keptWords
// ("パスワードはOKです") or holds no ASCII letter or digit: a word of these
// scripts there is prose ("密码是必填的", the password is required; "비밀번호가
// 틀렸습니다", the password is wrong). A name and a space with no particle
// is redactProse's ("пароль hunter").
func redactParticles(s string) string {
	if isASCII(s) {
		return s
	}
	var b strings.Builder
	done := 0
	for t := 1; t < len(s); t++ {
		if s[t] >= utf8.RuneSelf || s[t-1] < utf8.RuneSelf {
			continue
		}
		from, to, ok := scriptValue(s, max(done, t-scriptWindow), t)
		if !ok {
			continue
		}
		b.WriteString(s[done:from])
		b.WriteString(Redacted)
		done, t = to, to
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// scriptWindow is how many bytes before a run of ASCII scriptValue reads
// for a password's name and a particle: the longest of them, folded, is
// some 40 bytes.
const scriptWindow = 64

// scriptValue returns where the secret that starts the run of ASCII at
// s[t], after characters outside ASCII, starts and ends, and whether
// there is one (redactParticles): the text from s[start] to s[t], its
// ideographic spaces left out, ends in a password's name in a script
// other than Latin and a particle, or in the name alone with no space
// after it.
func scriptValue(s string, start, t int) (from, to int, ok bool) {
	for start < t && (s[start] < utf8.RuneSelf && s[start] != ' ' || s[start]&0xc0 == 0x80) {
		start++ // the window starts at a character outside ASCII, or a space
	}
	before := s[start:t]
	for strings.HasSuffix(before, "　") {
		before = before[:len(before)-len("　")]
	}
	from = proseSpaces(s, t)
	spaced := from > t || len(before) < t-start
	if from == len(s) || !(valueByte(s[from]) && (s[from] != '[' || !strings.HasPrefix(s[from:], Redacted))) {
		return 0, 0, false
	}
	k := foldName(strings.TrimLeft(before, " "))
	particle := false
	for _, p := range scriptParticles {
		if strings.HasSuffix(k, p) && scriptPasswordBefore(k[:len(k)-len(p)]) {
			particle = true
			break
		}
	}
	// With no particle the value starts with a letter or a digit: a
	// pair's separator ("비밀번호:x", redactPairs') is none.
	if !particle && (spaced || !scriptPasswordBefore(k) || !asciiAlnum(s[from:from+1])) || s[from] == ':' || s[from] == '=' {
		return 0, 0, false
	}
	to = from
	for to < len(s) && s[to] < utf8.RuneSelf && valueByte(s[to]) {
		to++
	}
	for to > from && strings.IndexByte(".!?:", s[to-1]) >= 0 {
		to--
	}
	if w := s[from:to]; w == "" || keptWord(w) || !asciiAlnum(w) {
		return 0, 0, false
	}
	return from, to, true
}

// scriptParticles are, folded as foldName folds them, the particles and
// linking verbs that join a password's name in a script other than
// Latin to its value with no space (redactParticles).
var scriptParticles, _ = foldedNames("是", "为", "為", "は", "が", "는", "은", "이", "가", "คือ", "เป็น")

// scriptPasswordBefore reports whether k, a folded text, ends in one of
// scriptPasswords.
func scriptPasswordBefore(k string) bool {
	for _, n := range scriptPasswords {
		if strings.HasSuffix(k, n) {
			return true
		}
	}
	return false
}
