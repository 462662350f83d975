package policy

import (
	"strings"
	"testing"
	"time"
)

// The lifecycle section is validated with FILE:LINE problems: durations,
// a warning that needs and is shorter than the age, document keys of
// unknown age, and key_rotation rules without a warning to fire on.
func TestLifecycleValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		doc  string
		want []string
	}{
		{"bad durations", with(0, "lifecycle:", "  max_key_age: ninety days", "  rotation_warning: soon"),
			[]string{`p.yaml:31: lifecycle: max_key_age: cannot parse duration "ninety days"`, `p.yaml:32: lifecycle: rotation_warning: cannot parse duration "soon"`}},
		{"warning without age", with(0, "lifecycle:", "  rotation_warning: 24h"),
			[]string{"p.yaml:31: lifecycle: rotation_warning needs max_key_age"}},
		{"warning not shorter", with(0, "lifecycle:", "  max_key_age: 24h", "  rotation_warning: 24h"),
			[]string{"p.yaml:32: lifecycle: rotation_warning 24h must be shorter than max_key_age 24h"}},
		{"key of unknown age", with(0, "lifecycle:", "  max_key_age: 2160h"),
			[]string{`p.yaml:27: key "acmehris1": lifecycle.max_key_age needs its age: give created_at (or not_before)`}},
		{"unknown field", with(0, "lifecycle:", "  max_age: 24h"),
			[]string{"p.yaml:31: field max_age not found"}},
		{"rule without warning", with(0, "detection:", "  - {name: rot, kind: key_rotation, severity: low}"),
			[]string{`p.yaml:31: detection rule "rot": kind key_rotation needs lifecycle.rotation_warning`}},
		{"bad created_at", with(0, "    created_at: yesterday"),
			[]string{`p.yaml:30: key "acmehris1": created_at: cannot parse time "yesterday"`}},
	}
	for _, c := range cases {
		_, err := Load("p.yaml", []byte(c.doc))
		if err == nil {
			t.Errorf("%s: Load = nil, want problems %q", c.name, c.want)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: problems lack %q:\n%s", c.name, w, err)
			}
		}
	}
	ok := with(0, "    created_at: \"2026-01-01T00:00:00Z\"", "lifecycle:", "  max_key_age: 2160h", "  rotation_warning: 168h",
		"  require_ticket: true", "  privileged_key_approval: true", "detection:", "  - {name: rot, kind: key_rotation, severity: low}")
	d, err := Load("p.yaml", []byte(ok))
	if err != nil {
		t.Fatalf("valid lifecycle: %v", err)
	}
	if l := d.Lifecycle; !l.RequireTicket || !l.PrivilegedKeyApproval || l.MaxKeyAge != "2160h" || l.RotationWarning != "168h" {
		t.Errorf("Lifecycle = %+v, want every field parsed", *l)
	}
}

// A key's age limit is its created_at (else not_before) plus max_key_age;
// a live key of unknown age is refused from the epoch on; KeyAges counts
// keys due for rotation and past the age.
func TestCompileKeyAges(t *testing.T) {
	t.Parallel()
	d, err := Load("p.yaml", []byte(with(0, "    created_at: \"2026-01-01T00:00:00Z\"", "lifecycle:", "  max_key_age: 720h", "  rotation_warning: 168h")))
	if err != nil {
		t.Fatal(err)
	}
	born := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fresh := liveKey("fresh0001", born.Add(600*time.Hour).Format(time.RFC3339), "")
	unknown := liveKey("unknown01", "", "")
	created := liveKey("created01", born.Add(time.Hour).Format(time.RFC3339), "")
	created.CreatedAt = born.Format(time.RFC3339) // created_at wins over not_before
	snap, err := Compile(d, Live{Keys: []KeySpec{fresh, unknown, created}})
	if err != nil {
		t.Fatal(err)
	}
	limit := born.Add(720 * time.Hour).UnixNano()
	for id, want := range map[string]int64{"acmehris1": limit, "created01": limit, "unknown01": 1, "fresh0001": born.Add(1320 * time.Hour).UnixNano()} {
		if got := snap.Key([]byte(id)).AgeLimit; got != want {
			t.Errorf("key %s AgeLimit = %d, want %d", id, got, want)
		}
	}
	k := snap.Key([]byte("acmehris1"))
	if k.AgedAt(limit-1) || !k.AgedAt(limit) {
		t.Errorf("AgedAt around the limit = %t, %t; want false, true", k.AgedAt(limit-1), k.AgedAt(limit))
	}
	warnAt := limit - int64(168*time.Hour)
	for _, c := range []struct {
		now       int64
		due, over int
	}{{warnAt - 1, 0, 1}, {warnAt, 2, 1}, {limit, 0, 3}} {
		if due, over := snap.KeyAges(c.now); due != c.due || over != c.over {
			t.Errorf("KeyAges(%d) = %d due, %d over; want %d, %d", c.now, due, over, c.due, c.over)
		}
	}
	plain, _ := Compile(mustLoad(t, with(0)), Live{})
	if got := plain.Key([]byte("acmehris1")).AgeLimit; got != 0 {
		t.Errorf("without lifecycle AgeLimit = %d, want 0 (no bound)", got)
	}
}

// KeyExpiry says which comes first, the key's not_after or max_key_age.
func TestKeyExpiry(t *testing.T) {
	t.Parallel()
	l := &LifecycleSpec{MaxKeyAge: "720h"}
	born := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := KeySpec{CreatedAt: born.Format(time.RFC3339)}
	if at, by := l.KeyExpiry(&k); !at.Equal(born.Add(720*time.Hour)) || by != "max_key_age" {
		t.Errorf("KeyExpiry = %s %s, want %s max_key_age", at, by, born.Add(720*time.Hour))
	}
	k.NotAfter = born.Add(24 * time.Hour).Format(time.RFC3339)
	if at, by := l.KeyExpiry(&k); !at.Equal(born.Add(24*time.Hour)) || by != "not_after" {
		t.Errorf("KeyExpiry = %s %s, want the earlier not_after", at, by)
	}
	if at, by := (*LifecycleSpec)(nil).KeyExpiry(&KeySpec{}); !at.IsZero() || by != "" {
		t.Errorf("no policy, no expiry: KeyExpiry = %s %q, want zero", at, by)
	}
}

func mustLoad(t *testing.T, text string) *Document {
	t.Helper()
	d, err := Load("p.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return d
}
