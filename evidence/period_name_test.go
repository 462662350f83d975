package evidence

import (
	"path/filepath"
	"testing"
)

// TestRangeNameSaysItsTimes: --from and --to take RFC 3339 times too, but
// the range was named by their dates alone. A pack from 2026-05-03 at
// 10:00 (or from local midnight in UTC-7) was named, and its manifest's
// Period Covered said, 2026-05-03_2026-05-31, as a pack of the whole days
// is: it left out the records of the morning of the 3rd (here acme-hris's
// call at 09:00) and said nothing, and either pack verified under the
// other's name. A bound that is not midnight UTC is now named with its
// time.
func TestRangeNameSaysItsTimes(t *testing.T) {
	whole, err := ParseRange("2026-05-03", "2026-05-31")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to, want string }{
		{"2026-05-03T10:00:00Z", "2026-05-31", "2026-05-03T100000Z_2026-05-31"},
		{"2026-05-03T00:00:00-07:00", "2026-05-31", "2026-05-03T070000Z_2026-05-31"},
		{"2026-05-03", "2026-05-31T23:59:59Z", "2026-05-03_2026-05-31T235959Z"},
		{"2026-05-03T00:00:00Z", "2026-06-01T00:00:00Z", whole.Name},
	} {
		p, err := ParseRange(c.from, c.to)
		if err != nil || p.Name != c.want {
			t.Errorf("ParseRange(%s, %s) = %q, %v; want %q", c.from, c.to, p.Name, err, c.want)
		}
	}

	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseRange("2026-05-03T10:00:00Z", "2026-05-31")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: out, SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if base := filepath.Base(res.Dir); base == "evidence-"+whole.Name || res.Files[0].Period == whole.Name {
		t.Errorf("the pack from 10:00 on the 3rd is %s covering %q: the name of the pack of the whole days", base, res.Files[0].Period)
	}
}
