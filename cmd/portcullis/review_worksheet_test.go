package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/evidence"
)

// TestReviewSignChecksTheWorksheetsKindAndPeriod: review sign --worksheet
// recorded the digest of any file under the kind and period given, so the
// Q2 access review could be signed with last year's logs worksheet and
// the pack counted it as the Q2 access review. review start now writes
// the kind and period in the worksheet's first line, and review sign
// refuses a worksheet of another kind or period, or one without them,
// before anything reaches etcd.
func TestReviewSignChecksTheWorksheetsKindAndPeriod(t *testing.T) {
	t.Parallel()
	e, a := etcdAdmin(t, "/review-ws")
	etcd := strings.Join(e.Endpoints(), ",")
	data, tmp := t.TempDir(), t.TempDir()
	keyPath, _ := signingKeyFile(t)
	evidenceStore(t, data, keyPath, time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC))
	start := func(name string, args ...string) string {
		t.Helper()
		ws := filepath.Join(tmp, name)
		var stdout, stderr bytes.Buffer
		if code := reviewStart(append(args, "--data", data, "--policy", examplePolicy, "--out", ws), &stdout, &stderr); code != 0 {
			t.Fatalf("review start %q = exit %d\n%s%s", args, code, &stdout, &stderr)
		}
		return ws
	}
	access := start("access.csv", "access", "--period", "2026-Q2")
	logs := start("logs.md", "logs", "--period", "2025")
	tabletop := start("tabletop.md", "tabletop", "--from", "2026-04-01", "--to", "2026-05-31")
	// The access worksheet stays a CSV every row of which has the header's
	// width, its first cell the mark.
	f, err := os.Open(access)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if mark := "Portcullis review worksheet: access review of 2026-Q2 from 2026-04-01T00:00:00Z to 2026-07-01T00:00:00Z"; err != nil || len(rows) < 3 ||
		rows[0][0] != mark || rows[1][0] != "integration" {
		t.Fatalf("access worksheet: %v, rows %q; want the mark %q, then the header", err, rows, mark)
	}
	plain := filepath.Join(tmp, "notes.md")
	if err := os.WriteFile(plain, []byte("# Access review\n\nall kept\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The access worksheet re-saved by a spreadsheet: a byte order mark,
	// CRLF line ends.
	b, err := os.ReadFile(access)
	if err != nil {
		t.Fatal(err)
	}
	resaved := filepath.Join(tmp, "access-resaved.csv")
	if err := os.WriteFile(resaved, append([]byte("\ufeff"), bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))...), 0o600); err != nil {
		t.Fatal(err)
	}

	sign := func(ws string, span ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		args := append(append([]string{"--kind"}, span...), "--reviewer", "rita", "--decision", "approved", "--note", "reviewed",
			"--worksheet", ws, "--etcd", etcd, "--prefix", "/review-ws")
		code := etcdSub(t, "review sign").main(args, &stdout, &stderr)
		return code, stderr.String()
	}
	for _, tt := range []struct {
		name string
		ws   string
		span []string
		want []string
	}{
		{"another kind", access, []string{"logs", "--period", "2026-Q2"}, []string{"access review of 2026-Q2", "not the logs review"}},
		{"another period", access, []string{"access", "--period", "2026-Q3"}, []string{"access review of 2026-Q2", "not the access review of 2026-Q3"}},
		{"last year's logs for Q2's access", logs, []string{"access", "--period", "2026-Q2"}, []string{"logs review of 2025", "not the access review of 2026-Q2"}},
		{"another range", tabletop, []string{"tabletop", "--from", "2026-04-01", "--to", "2026-05-30"}, []string{"tabletop review of 2026-04-01_2026-05-31", "not the tabletop review of 2026-04-01_2026-05-30"}},
		{"a range for its quarter", tabletop, []string{"tabletop", "--period", "2026-Q2"}, []string{"2026-04-01_2026-05-31", "not the tabletop review of 2026-Q2"}},
		{"a file without marks", plain, []string{"access", "--period", "2026-Q2"}, []string{"does not say which review", "portcullis review start access --period 2026-Q2 --data DIR --out FILE"}},
	} {
		code, stderr := sign(tt.ws, tt.span...)
		ok := code == 2 && strings.Count(stderr, "\n") == 1
		for _, w := range tt.want {
			ok = ok && strings.Contains(stderr, w)
		}
		if !ok {
			t.Errorf("%s: review sign = exit %d, stderr %q; want 2 and one line saying %q", tt.name, code, stderr, tt.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if evs, err := a.ListEvents(ctx, time.Time{}, time.Time{}); err != nil || len(evs) != 0 {
		t.Fatalf("refused sign-offs wrote %d events (%v): %+v", len(evs), err, evs)
	}

	for _, tt := range []struct {
		ws   string
		span []string
	}{
		{access, []string{"access", "--period", "2026-Q2"}},
		{resaved, []string{"access", "--period", "2026-Q2"}},
		{logs, []string{"logs", "--period", "2025"}},
		{tabletop, []string{"tabletop", "--from", "2026-04-01", "--to", "2026-05-31"}},
	} {
		if code, stderr := sign(tt.ws, tt.span...); code != 0 {
			t.Errorf("review sign %q of its own worksheet %s = exit %d: %s", tt.span, tt.ws, code, stderr)
		}
	}
	evs, err := a.ListEvents(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for i, ws := range []string{access, resaved, logs, tabletop} {
		b, _ := os.ReadFile(ws)
		sum := sha256.Sum256(b)
		if i >= len(evs) || evs[i].Action != evidence.ActionReviewSign || evs[i].Details["worksheet_sha256"] != hex.EncodeToString(sum[:]) {
			t.Errorf("sign-off %d: want the digest of %s in %+v", i, ws, evs)
		}
	}
}
