package collector

import "testing"

// TestRedactMissedSecretEdges: secrets prose wrote that RedactText
// stored as sent, or stored in part: a passphrase of several words after
// a linking verb or "to", a value after French "c'est", Portuguese "do"
// and Vietnamese "là", a name it did not know (creds, pass, jeton,
// Schlüssel, mật khẩu, an unseal key, a recovery or door code), and what
// stays kept beside each.
func TestRedactMissedSecretEdges(t *testing.T) {
	for in, want := range map[string]string{
		"the passphrase is correct horse battery staple": "the passphrase is " + Redacted,
		"changed my password to autumn leaves":           "changed my password to " + Redacted,
		"the password is blue sky now":                   "the password is " + Redacted + " now",
		"le mot de passe c'est Soleil2024":               "le mot de passe c'est " + Redacted,
		"senha do wifi: Praia2024":                       "senha do wifi: " + Redacted,
		"creds: admin/Hunter22":                          "creds: " + Redacted,
		"unseal key 3: 4f1c9a2b7e":                       "unseal key 3: " + Redacted,
		"recovery code 8H2K-9QXT":                        "recovery code " + Redacted,
		"door code 4821":                                 "door code " + Redacted,
		"pass: Hunter22":                                 "pass: " + Redacted,
		"jeton: abc123XYZ":                               "jeton: " + Redacted,
		"Schlüssel: 8f2a9cQ":                             "Schlüssel: " + Redacted,
		"mật khẩu là Hoa2024":                            "mật khẩu là " + Redacted,
		// kept: prose about the secret, not the secret
		"the passphrase is not set for this key": "the passphrase is not set for this key",
		"the passphrase is correct":              "the passphrase is correct",
		"password is hunter and the user is bob": "password is " + Redacted + " and the user is bob",
		"passwords do not match: retry":          "passwords do not match: retry",
		"error code 1234":                        "error code 1234",
		"door code changed":                      "door code changed",
		"tests pass: 12":                         "tests pass: 12",
		"pass=1 fail=0":                          "pass=1 fail=0",
		"pass: true":                             "pass: true",
		"step 3: run it":                         "step 3: run it",
		"mật khẩu là sai":                        "mật khẩu là sai",
	} {
		if got := RedactText(in); got != want {
			t.Errorf("RedactText(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRedactOverRedactionEdges: prose RedactText cleared a word of that
// names no secret: pinning a package, and what a new password is to be.
func TestRedactOverRedactionEdges(t *testing.T) {
	for in, want := range map[string]string{
		"Pin numpy in requirements":              "Pin numpy in requirements",
		"pin numpy==1.24":                        "pin numpy==1.24",
		"we should pin numpy==1.24":              "we should pin numpy==1.24",
		"set the password to something stronger": "set the password to something stronger",
		// still cleared
		"Pin 4821":    "Pin " + Redacted,
		"pin hunter":  "pin " + Redacted,
		"PIN hunter":  "PIN " + Redacted,
		"pin Ab==12x": "pin " + Redacted,
	} {
		if got := RedactText(in); got != want {
			t.Errorf("RedactText(%q) = %q, want %q", in, got, want)
		}
	}
}
