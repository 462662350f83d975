package jwt

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

// TestCacheBoundedByBytes: the cache was bounded by entries only, 8192 in
// ristretto and 4096 in the front table, which keeps its entries alive
// after ristretto evicts them; at MaxTokenBytes (8 KiB) a token, that was
// 64 MiB and 32 MiB, where issue 18 wants the sidecar's peak RSS under
// 30 MB. Both are now bounded by bytes as well (DefaultCacheBytes,
// frontBytes). The test fills the cache with 1500 valid tokens of almost
// 8 KiB (12 MiB), checks what each part holds against its budget, and
// verifies every token again: each, evicted or not, is verified as itself
// and a copy with a wrong signature is still refused.
func TestCacheBoundedByBytes(t *testing.T) {
	t.Parallel()
	v, _, ks := allKeysVerifier(t)
	now := time.Now()
	pad := strings.Repeat("p", 5800)
	const n = 1500
	toks := make([][]byte, n)
	for i := range toks {
		toks[i] = sign(ks["HS256"], nil, claimsAt(now, map[string]any{"sub": fmt.Sprint("user-", i), "pad": pad}))
		if len(toks[i]) > DefaultMaxTokenBytes || len(toks[i]) < DefaultMaxTokenBytes-512 {
			t.Fatalf("token of %d bytes, want just under %d", len(toks[i]), DefaultMaxTokenBytes)
		}
		if _, st := v.Verify(toks[i], now); st != OK {
			t.Fatalf("token %d: %v", i, st)
		}
	}
	v.WaitCache()
	check := func(when string) {
		t.Helper()
		var front, reserved int64
		for i := range v.cache.front {
			if e := v.cache.front[i].Load(); e != nil {
				front += entryCost(e)
			}
		}
		reserved = v.cache.frontUsed.Load()
		if front > frontBytes || reserved > frontBytes || front > reserved {
			t.Errorf("%s: the front holds %d bytes (counted %d), want at most %d", when, front, reserved, frontBytes)
		}
		var held int64
		for _, tok := range toks {
			if e, ok := v.cache.c.Get(xxhash.Sum64(tok)); ok {
				held += entryCost(e)
			}
		}
		if held > DefaultCacheBytes {
			t.Errorf("%s: ristretto holds %d bytes, want at most %d", when, held, DefaultCacheBytes)
		}
		if front == 0 || held == 0 {
			t.Errorf("%s: front %d bytes, ristretto %d: want both in use", when, front, held)
		}
	}
	check("filled")
	for i, tok := range toks {
		c, st := v.Verify(tok, now)
		if st != OK || c.Subject != fmt.Sprint("user-", i) {
			t.Fatalf("token %d again: %v, %+v", i, st, c)
		}
		forged := append([]byte(nil), tok...)
		if forged[len(forged)-2] == 'A' {
			forged[len(forged)-2] = 'B'
		} else {
			forged[len(forged)-2] = 'A'
		}
		if _, st := v.Verify(forged, now); st != BadSignature {
			t.Fatalf("token %d with a wrong signature: %v, want bad_signature", i, st)
		}
	}
	v.WaitCache()
	check("verified again")
}
