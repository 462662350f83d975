package collector

// A password's value right after its name in another script, attached or
// after a particle (redactParticles: "비밀번호는hunter2", "密码是hunter2").

import (
	"strings"
	"unicode"
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
	particle, object := false, false
	for _, p := range scriptParticles {
		if strings.HasSuffix(k, p) && scriptPasswordBefore(k[:len(k)-len(p)]) {
			particle = true
			break
		}
	}
	for _, p := range objectParticles {
		if !particle && strings.HasSuffix(k, p) && scriptPasswordBefore(k[:len(k)-len(p)]) {
			particle, object = true, true
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
	if w := s[from:to]; w == "" || keptWord(w) || !asciiAlnum(w) || object && !toParticleAt(s, proseSpaces(s, to)) && !valueEndAt(s, to) && !copulaAt(s, to) {
		return 0, 0, false
	}
	return from, to, true
}

// objectParticles are, folded as foldName folds them, the particles that
// make a password's name in a script other than Latin a verb's object
// (Japanese を, Korean 를 and 을): the ASCII after one is its value when a
// particle of direction follows it (toParticleAt: "パスワードをhunter2に変更",
// change the password to hunter2; "비밀번호를 hunter2로 변경"), stored as sent
// before (TestForeignValueAfterObjectParticleRedacted). With none it is
// the verb's ("パスワードをSHA256でハッシュ", hash the password with SHA256).
var objectParticles, _ = foldedNames("を", "를", "을")

// valueEndAt reports whether a value after one of objectParticles that
// ends at s[i] ends its text or its phrase: nothing, a space or a mark
// follows it ("パスワードをhunter2", "비밀번호를hunter2。", stored as sent
// before: TestForeignValueEndingAfterObjectParticleRedacted), not a word
// of the script ("パスワードをSHA256でハッシュ", the verb's).
func valueEndAt(s string, i int) bool {
	if i == len(s) || s[i] < utf8.RuneSelf {
		return true // the run of ASCII ended at a space or a mark
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(r) || unicode.IsPunct(r)
}

// copulas are the copulas and sentence endings that, right after the
// ASCII after one of objectParticles, make it the value: Japanese です,
// でした, でしょう, である, であり, でございます, だ, だった, and Korean 입니다,
// 예요, 이에요, 이다, 이야, 였, 이었 ("パスワードをhunter2です", stored as sent
// before: TestForeignValueBeforeCopulaRedacted; "비밀번호를hunter2예요",
// stored as sent before: TestForeignValueBeforeConjunctiveRedacted).
var copulas = [...]string{"です", "でした", "でしょう", "である", "であり", "でございます", "だった", "입니다", "예요", "이에요", "이다", "이야", "였", "이었"}

// copulaAt reports whether s[i:] starts with one of copulas, with だ not
// followed by け, with で (the copula's conjunctive form) ending its
// phrase ("パスワードをhunter2で", "...で、"), or with だけ (only, or one of
// onlyParticles) ending its phrase or before one of these
// ("パスワードをhunter2だけ", "...だけです"):
// each was stored as sent (TestForeignValueBeforeConjunctiveRedacted). で
// before a word of the script is a particle of means, the ASCII before it
// the verb's ("パスワードをSHA256でハッシュ", "パスワードをASCIIだけで作る").
func copulaAt(s string, i int) bool {
	if i == len(s) || s[i] < utf8.RuneSelf {
		return false
	}
	for _, c := range copulas {
		if strings.HasPrefix(s[i:], c) {
			return true
		}
	}
	for _, o := range onlyParticles {
		if strings.HasPrefix(s[i:], o) {
			j := i + len(o)
			return valueEndAt(s, j) || copulaAt(s, j)
		}
	}
	if strings.HasPrefix(s[i:], "で") {
		return valueEndAt(s, i+len("で"))
	}
	return strings.HasPrefix(s[i:], "だ")
}

// onlyParticles are the particles meaning "only" that copulaAt reads as
// it reads だけ: Japanese だけ and のみ, Korean 만. "パスワードをhunter2のみ" and
// "비밀번호를hunter2만" were stored as sent (TestForeignValueEndingAfterObjectParticleRedacted).
var onlyParticles = [...]string{"だけ", "のみ", "만"}

// toParticles are the particles of direction that end a value after one
// of objectParticles: Japanese に, へ, と (to, into, as), Korean 로 and 으로.
var toParticles, _ = foldedNames("に", "へ", "と", "로", "으로")

// toParticleAt reports whether s[i:] starts with one of toParticles.
func toParticleAt(s string, i int) bool {
	if i == len(s) || s[i] < utf8.RuneSelf {
		return false
	}
	_, n := utf8.DecodeRuneInString(s[i:])
	if n2 := i + n; n2 < len(s) {
		_, m := utf8.DecodeRuneInString(s[n2:])
		n += m
	}
	k := foldName(s[i : i+n])
	for _, p := range toParticles {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
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

// scriptKeptWords are the words of a script other than Latin after a
// linking verb of that script (linkingVerb: Russian это, Greek είναι,
// Arabic هي, Hebrew היא and הוא) that are prose, not a secret, as
// keptWords are in Latin letters: a status or an adjective ("неверный",
// wrong; "λάθος"; "שגויה"; "خاطئة"), a negation or an adverb ("не",
// "слишком"). Any other word there that holds a letter or a digit is
// cleared: "пароль это секрет" was stored as sent
// (TestForeignScriptWordAfterScriptVerbRedacted).
var scriptKeptWords = strings.Fields(`
	не нет ни слишком уже ещё еще тоже также только очень всё все пуст пуста пусто верен верна неверен неверна
	λάθος δεν μη πολύ άκυρος άκυρη άκυρο έγκυρος έγκυρη έγκυρο σωστός σωστή σωστό λανθασμένος λανθασμένη λανθασμένο
	υποχρεωτικός υποχρεωτική υποχρεωτικό απαραίτητος απαραίτητη απαραίτητο κενός κενή κενό ληγμένος ληγμένη ληγμένο
	αδύναμος αδύναμη αδύναμο ισχυρός ισχυρή ισχυρό
	خاطئة خاطئ غير صحيحة صحيح مطلوبة مطلوب فارغة فارغ قصيرة قصير ضعيفة ضعيف قوية قوي منتهية لا ليست ليس
	שגויה שגוי חובה ריקה ריק נכונה נכון קצרה קצר חלשה חלש חזקה חזק לא תקינה תקין פגה חסרה חסר`)

// thaiKeptStarts are the Thai words a word after คือ starting with one
// of is prose (Thai writes a phrase's words with no space between: "ไม่ถูกต้อง",
// not correct): not, wrong, correct, empty, required, short, expired, weak.
var thaiKeptStarts = [...]string{"ไม่", "ผิด", "ถูกต้อง", "ว่าง", "จำเป็น", "สั้น", "หมดอายุ", "อ่อน"}

// russianProseEnds are the endings of a Russian adjective, participle or
// adverb ("неверный", "обязательное", "изменён", "неверно"): a word after
// это ending so is prose.
var russianProseEnds = [...]string{"ый", "ий", "ой", "ая", "яя", "ое", "ее", "ые", "ие", "ую", "юю", "ых", "их", "ым", "им",
	"ого", "его", "ому", "ему", "ован", "ен", "ён", "но"}

// scriptKeptWord reports whether w, a word outside ASCII after a linking
// verb of a script other than Latin, is prose: one of scriptKeptWords in
// any case, a Russian word with one of russianProseEnds, or a Thai word
// starting with one of thaiKeptStarts.
func scriptKeptWord(w string) bool {
	if isASCII(w) {
		return false
	}
	for _, k := range scriptKeptWords {
		if strings.EqualFold(w, k) {
			return true
		}
	}
	r, _ := utf8.DecodeRuneInString(w)
	switch {
	case 0x400 <= r && r <= 0x4ff: // Cyrillic
		for _, e := range russianProseEnds {
			if strings.HasSuffix(w, e) {
				return true
			}
		}
	case 0xe00 <= r && r <= 0xe7f: // Thai
		for _, k := range thaiKeptStarts {
			if strings.HasPrefix(w, k) {
				return true
			}
		}
	}
	return false
}
