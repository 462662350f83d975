package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// Review kinds and decisions (review start and review sign).
const (
	ReviewAccess   = "access"
	ReviewLogs     = "logs"
	ReviewTabletop = "tabletop"

	ActionReviewSign = "review.sign"
)

// Worksheet builds the worksheet of a review of kind over cfg.Period:
// access, each privileged integration with its scopes, last use, owner
// and an empty keep/reduce/revoke column (CSV); logs, the credential scan
// and the integrity proof of the period (Markdown); tabletop, the
// token-compromise runbook with a record to fill (Markdown).
func Worksheet(cfg Config, kind string) ([]byte, error) {
	if cfg.VerifyKey == nil && cfg.SigningKey != nil {
		cfg.VerifyKey = cfg.SigningKey.Public().(ed25519.PublicKey)
	}
	b, err := load(&cfg)
	if err != nil {
		return nil, err
	}
	switch kind {
	case ReviewAccess:
		out, err := b.privilegedAccess()
		return bytes.Replace(out, []byte("review_decision"), []byte("review_decision (keep/reduce/revoke)"), 1), err
	case ReviewLogs:
		scan, err := b.credentialScan()
		if err != nil {
			return nil, err
		}
		ret, err := b.retention()
		return append(append(scan, '\n'), ret...), err
	case ReviewTabletop:
		rb, err := b.runbook()
		rec := "\n## Tabletop record\n\n- date:\n- participants:\n- scenario:\n- time to contain:\n- findings:\n- follow-up tickets:\n"
		return append(rb, rec...), err
	}
	return nil, fmt.Errorf("review kind %q: want access, logs or tabletop", kind)
}

// reviewRecords writes the period's review sign-offs and evidence
// approvals from the lifecycle events the collector stored.
func (b *builder) reviewRecords() ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"time", "action", "target", "reviewer", "decision", "note", "ticket", "worksheet_sha256", "etcd_revision"})
	for i := range b.events {
		ev := &b.events[i]
		if ev.Action != ActionReviewSign && ev.Action != etcdadmin.ActionEvidenceApprove {
			continue
		}
		d := eventDetails(ev.Details)
		decision := d["decision"]
		if decision == "" {
			decision = d["status"]
		}
		w.Write(csvCells(rfc(ev.Time), ev.Action, ev.Target, ev.Actor, decision, ev.Reason, ev.Ticket,
			strings.TrimSpace(d["worksheet_sha256"]+d["sha256"]), strconv.FormatInt(ev.Revision, 10)))
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// reviewsSigned counts the period's review sign-offs approved.
func (b *builder) reviewsSigned() int {
	n := 0
	for i := range b.events {
		if b.events[i].Action == ActionReviewSign && eventDetails(b.events[i].Details)["decision"] == "approved" {
			n++
		}
	}
	return n
}
