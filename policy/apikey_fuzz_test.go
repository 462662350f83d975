package policy

import (
	"bytes"
	"testing"
)

// FuzzSplitKey checks the API key split on arbitrary input: it never
// panics, an accepted key has the documented shape (pk_, an id of 8-32
// [a-z0-9] aliasing the key, '_', at least 32 base62 characters, at most
// MaxKeyLen in all), and KeyID agrees with SplitKey on what it accepts.
// Seeds are in testdata/fuzz/FuzzSplitKey.
func FuzzSplitKey(f *testing.F) {
	f.Add([]byte("pk_acmehris1_DemoAcmeHrisSecret000000000000000001"))
	f.Fuzz(func(t *testing.T, key []byte) {
		id, ok := SplitKey(key)
		kid, kok := KeyID(key)
		if ok && (!kok || !bytes.Equal(id, kid)) {
			t.Fatalf("SplitKey(%q) = %q but KeyID = %q, %v", key, id, kid, kok)
		}
		if !ok {
			if id != nil {
				t.Fatalf("SplitKey(%q) refused but returned id %q", key, id)
			}
			return
		}
		secret, _ := bytes.CutPrefix(key, []byte(KeyPrefix+string(id)+"_"))
		switch {
		case len(key) > MaxKeyLen:
			t.Fatalf("accepted a key of %d bytes", len(key))
		case !keyIDPattern.Match(id) || &id[0] != &key[len(KeyPrefix)]:
			t.Fatalf("id %q of %q is not [a-z0-9]{8,32} at the key's offset 3", id, key)
		case len(secret) < MinSecretLen || len(secret) != len(key)-len(KeyPrefix)-len(id)-1:
			t.Fatalf("secret %q of %q is shorter than %d or not what follows the id", secret, key, MinSecretLen)
		}
		for _, c := range secret {
			if isBase62[c] == 0 {
				t.Fatalf("secret of %q holds %q, not base62", key, c)
			}
		}
	})
}
