package evidence

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/portcullis/portcullis/audit"
)

// TestRevocationCellFitsASpreadsheet: a revocation's
// first_denial_by_sidecar cell listed every pod (up to 1,000 and the
// rest together) with its first denial, and a pod's name is its
// sender's to write, 256 bytes long: 200 such pods made a cell past
// Excel's 32,767 characters, which Excel cuts or refuses. The cell now
// lists those that fit and says how many more there are.
func TestRevocationCellFitsASpreadsheet(t *testing.T) {
	t.Parallel()
	rig := newRevokedIntake(t)
	const pods = 200
	for n := range pods {
		pod := fmt.Sprintf("pod-%03d-", n) + strings.Repeat("x", 248)
		var revoked audit.Record
		revoked.Time = rigRevokedAt.Add(time.Duration(n+1) * time.Second).UnixNano()
		revoked.Status, revoked.Decision, revoked.Tenant = 401, audit.KeyRevoked, "acme"
		revoked.SetMethod([]byte("GET"))
		revoked.SetKeyID([]byte("acmehris1"))
		rig.send(t, pod, pod+"-1", revoked)
	}
	res, p := rig.pack(t, "")
	rows := readCSV(t, filepath.Join(res.Dir, FileName("APIAuth", "RevocationRecords", p.Name, "csv")))
	col8 := -1
	for j, c := range rows[0] {
		if c == "first_denial_by_sidecar" {
			col8 = j
		}
	}
	if len(rows) < 2 || col8 < 0 {
		t.Fatalf("no revocation row: %q", rows)
	}
	cell := rows[1][col8]
	if n := utf8.RuneCountInString(cell); n > 32767 {
		t.Fatalf("first_denial_by_sidecar holds %d characters, past a spreadsheet cell's 32,767", n)
	}
	// One sender's pods take at most maxPodsPerSender places
	// (TestRevocationPodsBoundPerSender): the rest are kept together,
	// named by their sender.
	if !strings.Contains(cell, "pod-000-") || !strings.Contains(cell, morePodsOfSender+" (token:sidecar-a)=") {
		t.Fatalf("first_denial_by_sidecar lists no pod or does not name the sender cut: %.300q ... %q", cell, cell[max(0, len(cell)-200):])
	}
	if listed := strings.Count(cell, "(token:sidecar-a)="); listed != maxPodsPerSender+1 {
		t.Errorf("the cell lists %d entries of sidecar-a, want its first %d pods and the rest together", listed, maxPodsPerSender)
	}
}
