package etcdadmin

import (
	"context"
	"strings"
	"testing"
)

// TestInvalidMemberAndSuspensionListed checks the admin reads: a member
// record that does not decode hides no other sidecar, and a suspension that
// does not decode is listed as in force, as the sidecars enforce it.
func TestInvalidMemberAndSuspensionListed(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	ctx := context.Background()
	for k, v := range map[string]string{
		"/members/good":          `{"pod":"good","revision":3}`,
		"/members/bad":           "{not json",
		"/suspensions/globex-bi": "{",
	} {
		if _, err := cli.Put(ctx, prefix+k, v); err != nil {
			t.Fatal(err)
		}
	}
	ms, bad, err := a.MemberRecords(ctx)
	if err != nil {
		t.Fatalf("MemberRecords: %v", err)
	}
	if len(ms) != 1 || ms[0].Pod != "good" || len(bad) != 1 || !strings.Contains(bad[0], "/members/bad") {
		t.Errorf("MemberRecords = %+v, %q; want the good member and the bad one named", ms, bad)
	}
	sus, err := a.Suspensions(ctx)
	if err != nil {
		t.Fatalf("Suspensions: %v", err)
	}
	if _, ok := sus["globex-bi"]; !ok || len(sus) != 1 {
		t.Errorf("Suspensions = %+v, want globex-bi listed", sus)
	}
}
