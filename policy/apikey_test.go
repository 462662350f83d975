package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

const demoKey = "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"

// KeyID checks everything SplitKey does except the secret's characters.
func TestKeyID(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("aZ9", 11)
	for key, wantID := range map[string]string{
		demoKey:                                         "acmehris1",
		"pk_abcdefgh_" + secret[:31] + "-":              "abcdefgh",
		"pk_abcdefgh_" + secret + "é":                   "abcdefgh",
		"pk_abcdefgh_" + secret[:31]:                    "", // secret too short
		"pk_abcdEfgh_" + secret:                         "",
		"pk_abcdefg_" + secret:                          "",
		"sk_abcdefgh_" + secret:                         "",
		"pk_abcdefgh" + secret:                          "",
		"pk_abcdefgh_" + strings.Repeat("z", MaxKeyLen): "",
	} {
		id, ok := KeyID([]byte(key))
		if got := string(id); ok != (wantID != "") || got != wantID {
			t.Errorf("KeyID(%q) = %q, %v; want %q", key, got, ok, wantID)
		}
	}
}

func TestSplitKey(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("aZ9", 11) // 33 base62 characters
	tests := []struct {
		key    string
		wantID string // "" means rejected
	}{
		{demoKey, "acmehris1"},
		{"pk_abcdefgh_" + secret[:32], "abcdefgh"},
		{"pk_" + strings.Repeat("a", 32) + "_" + secret, strings.Repeat("a", 32)},
		{"pk_" + strings.Repeat("9", 8) + "_" + strings.Repeat("z", MaxKeyLen-12), strings.Repeat("9", 8)},
		{"pk_abcdefg_" + secret, ""},                          // id too short
		{"pk_" + strings.Repeat("a", 33) + "_" + secret, ""},  // id too long
		{"pk_abcdEfgh_" + secret, ""},                         // uppercase id
		{"pk_abcd-fgh_" + secret, ""},                         // punctuation in id
		{"pk_abcdefgh_" + secret[:31], ""},                    // secret too short
		{"pk_abcdefgh_" + secret[:31] + "-", ""},              // not base62
		{"pk_abcdefgh_" + secret[:31] + "_", ""},              // not base62
		{"pk_abcdefgh_" + secret + "é", ""},                   // not ASCII
		{"abcdefghij_" + secret, ""},                          // missing prefix
		{"PK_abcdefgh_" + secret, ""},                         // prefix is case-sensitive
		{"sk_abcdefgh_" + secret, ""},                         // wrong prefix
		{"pk_abcdefgh" + secret, ""},                          // no separator
		{"pk_abcdefgh_" + strings.Repeat("z", MaxKeyLen), ""}, // oversize
		{"", ""},
		{"pk_", ""},
	}
	for _, tt := range tests {
		id, ok := SplitKey([]byte(tt.key))
		if got := string(id); ok != (tt.wantID != "") || got != tt.wantID {
			t.Errorf("SplitKey(%q) = %q, %v; want %q", tt.key, got, ok, tt.wantID)
		}
	}
}

func TestDemoKeyDigest(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte(demoKey))
	if got, want := hex.EncodeToString(sum[:]), "edb86f4ea470c5496270ef193db8fa562b18d98b25ecfd7b73097eda6217e074"; got != want {
		t.Errorf("sha256(demo key) = %s, want the acmehris1 record's %s", got, want)
	}
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	nb := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	seen := map[string]bool{}
	for range 50 {
		key, spec, err := GenerateKey("acme-hris", "alice", "OPS-1", nb, nb.Add(time.Hour))
		if err != nil {
			t.Fatalf("GenerateKey: %v", err)
		}
		id, ok := SplitKey([]byte(key))
		if !ok || string(id) != spec.ID {
			t.Fatalf("SplitKey(%q) = %q, %v; want %q, true", key, id, ok, spec.ID)
		}
		sum := sha256.Sum256([]byte(key))
		if spec.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("spec.SHA256 = %s, want sha256 of the key", spec.SHA256)
		}
		if err := spec.check(map[string]bool{"acme-hris": true}); err != nil {
			t.Errorf("generated record does not validate: %v", err)
		}
		if seen[key] || seen[spec.ID] {
			t.Errorf("GenerateKey repeated %q", key)
		}
		seen[key], seen[spec.ID] = true, true
		want := KeySpec{ID: spec.ID, Client: "acme-hris", SHA256: spec.SHA256,
			NotBefore: "2026-01-02T02:04:05Z", NotAfter: "2026-01-02T03:04:05Z", CreatedBy: "alice", Ticket: "OPS-1"}
		if spec != want {
			t.Errorf("spec = %+v, want %+v", spec, want)
		}
	}
	_, spec, err := GenerateKey("c", "", "", time.Time{}, time.Time{})
	if err != nil || spec.NotBefore != "" || spec.NotAfter != "" {
		t.Errorf("GenerateKey(zero times) = %+v, %v; want no window", spec, err)
	}
}
