package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
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
// (record.go) where it has one.
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
	lo, hi := now.Add(-c.cfg.RecordWindow), now.Add(c.cfg.RecordWindow)
	for i := range b.Records {
		r := &b.Records[i]
		if r.capFields() {
			r.Flags = append(r.Flags, FlagTruncated)
		}
		if r.Time.Before(lo) || r.Time.After(hi) {
			r.Flags = append(r.Flags, FlagTimeOutsideWindow)
		}
	}
}

// capFields cuts the text fields of r to the collector's caps and reports
// whether any was cut.
func (r *StoredRecord) capFields() bool {
	cut := false
	capTo := func(s *string, n int) {
		if len(*s) > n {
			*s, cut = truncate(*s, n), true
		}
	}
	capTo(&r.Path, MaxPath)
	capTo(&r.UserAgent, MaxUserAgent)
	capTo(&r.RequestID, MaxRequestID)
	capTo(&r.KeyID, MaxKeyID)
	capTo(&r.Method, 16)
	for _, s := range []*string{&r.Tenant, &r.Client, &r.AuthMethod, &r.Issuer, &r.Route,
		&r.Decision, &r.SourceIP, &r.TokenFingerprint} {
		capTo(s, maxFieldBytes)
	}
	return cut
}
