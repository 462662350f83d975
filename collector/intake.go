package collector

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// Record flags: what the collector noticed about a record it stored
// anyway, so a reader sees it rather than the collector dropping it.
const (
	// FlagTimeOutsideWindow marks a record whose time lies further from
	// the collector's receipt time than the record window.
	FlagTimeOutsideWindow = "time_outside_window"
	// FlagTruncated marks a record with a field cut to the collector's
	// size cap.
	FlagTruncated = "truncated"
)

// Size caps the collector applies to record fields, the sidecar's own
// (audit/record.go) where it has one.
const (
	maxFieldBytes   = 256 // tenant, client, route, issuer, method, decision...
	maxBatchIDBytes = 128
)

// admitBatch files b under its sender, caps its fields and flags records
// whose time is outside the window around now.
func (c *Collector) admitBatch(b *Batch, sender string, now time.Time) {
	b.Sender = sender
	if len(b.ID) > maxBatchIDBytes {
		// A digest keeps distinct long ids distinct, which cutting would not.
		sum := sha256.Sum256([]byte(b.ID))
		b.ID = "sha256:" + hex.EncodeToString(sum[:])
	}
	b.Service = truncate(b.Service, maxFieldBytes)
	b.Host = truncate(b.Host, maxFieldBytes)
	b.Instance = truncate(b.Instance, maxFieldBytes)
	b.Pod = truncate(b.Pod, maxFieldBytes)
	lo, hi := now.Add(-c.cfg.RecordWindow), now.Add(c.cfg.RecordWindow)
	for i := range b.Records {
		r := &b.Records[i]
		r.redactRequestFields()
		r.redactAttributePair()
		set := 0
		if r.capFields() {
			set |= 1
		}
		if r.Time.Before(lo) || r.Time.After(hi) {
			set |= 2
		}
		if set != 0 {
			r.Flags = flagSets[set]
		}
	}
}

// flagSets are the Flags a record can get, shared (never modified) so
// flagging allocates nothing per record.
var flagSets = [4][]string{1: {FlagTruncated}, 2: {FlagTimeOutsideWindow}, 3: {FlagTruncated, FlagTimeOutsideWindow}}

// textCaps are the collector's caps of the text fields, by field: the
// sidecar's own sizes where it has one (audit.Max*), maxFieldBytes for the
// others. A text field added without a cap is cut to nothing, which
// TestEveryTextFieldCutAndFlagged catches.
var textCaps = [numTextAttrs]int{
	attrMethod: 16, attrRoute: maxFieldBytes, attrPath: audit.MaxPath, attrSourceIP: maxFieldBytes,
	attrUserAgent: audit.MaxUserAgent, attrTenant: maxFieldBytes, attrClient: maxFieldBytes,
	attrKeyID: audit.MaxKeyID, attrAuthMethod: maxFieldBytes, attrDecision: maxFieldBytes,
	attrRequestID: audit.MaxRequestID, attrIssuer: maxFieldBytes, attrTokenFingerprint: maxFieldBytes,
	attrApprovalID: audit.MaxApproval, attrLimit: maxFieldBytes,
	attrCertSerial: audit.MaxCertSerial, attrCertIssuer: 64, attrCut: 16,
}

// requestFields are the text fields of a record that the API's client
// wrote, whoever recorded them: its path, user agent and request id.
var requestFields = [...]attrField{attrPath, attrUserAgent, attrRequestID}

// redactRequestFields clears the credentials redactText finds in
// r's requestFields (a session id in a path's "/app;jsessionid=...",
// TestForeignPairsInTextRedacted, too), before they are cut (a credential cut short is no
// longer found), as a foreign record's attributes and body are cleared:
// a JWT in a magic link's path, a Bearer value in a user agent, an API
// key pasted into a URL were stored as sent, in a trail that cannot be
// edited afterwards without breaking its chain
// (TestCredentialsInRequestFieldsRedacted).
func (r *StoredRecord) redactRequestFields() {
	for _, f := range requestFields {
		if s := r.textField(f); *s != "" {
			*s = redactText(*s)
		}
	}
}

// capFields cuts the text fields of r to textCaps and reports whether any
// was cut.
func (r *StoredRecord) capFields() bool {
	cut := false
	for f := range numTextAttrs {
		cut = capString(r.textField(f), textCaps[f]) || cut
	}
	return cut
}

// capString cuts *s to n bytes and reports whether it did.
func capString(s *string, n int) bool {
	if len(*s) <= n {
		return false
	}
	*s = truncate(*s, n)
	return true
}
