package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// TestLostBatchesNamePodAsText: the INCOMPLETE line of batches missing
// named each sidecar by the pod its batches name, a sender's to write, as
// the pod was: one sender's batches 1 and 3, sent through the real intake
// naming a pod of Markdown, an escape sequence and line breaks, wrote a
// heading "Result: OK", a link and HTML of its own into the retention
// file and the checklist, and the escape sequence to the terminal of
// whoever ran evidence pack (its warnings). The pod and the instance are
// now printed as the pack's other lines print a pod (mdCell).
func TestLostBatchesNamePodAsText(t *testing.T) {
	r := newRevokedIntake(t)
	const pod = "pod-x\x1b[2J\n\n# Result: OK\n\n[all batches stored](https://evil.example/) <img src=x>"
	var rec audit.Record
	rec.Time = rigRevokedAt.Add(-time.Hour).UnixNano()
	rec.Status, rec.Decision, rec.Tenant, rec.Client, rec.Route = 200, audit.Allowed, "acme", "acme-hris", "/v1/users"
	rec.SetMethod([]byte("GET"))
	r.send(t, pod, "inst-1", rec)
	r.send(t, pod, "inst-3", rec)
	res, p := r.pack(t, "")
	want := "INCOMPLETE: 1 batches the period's sidecars numbered are not in the store"
	for _, f := range []string{FileName("APILogging", "RetentionSettings", p.Name, "md"), FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")} {
		raw, err := os.ReadFile(filepath.Join(res.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		if !strings.Contains(text, want) {
			t.Errorf("%s does not say %q", f, want)
		}
		for _, bad := range []string{"\x1b", "\n# Result: OK", "](https://", " <img"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s holds %q of the pod's name as it was sent:\n%s", f, bad, text)
			}
		}
	}
	for _, w := range res.Warnings {
		if strings.ContainsAny(w, "\x1b\n") {
			t.Errorf("warning %q holds a control character of the pod's name", w)
		}
	}
}
