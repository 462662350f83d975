package evidence

import (
	"fmt"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// retentionSetting says the retention the store recorded in its signed
// head and, when Config.Retention (the --retention flag) is given and
// disagrees, reports the mismatch (kept in b.warnings for the command
// line): the store's record is the evidence, the flag only a claim.
func (b *builder) retentionSetting() string {
	rs, err := collector.ReadRetention(b.cfg.DataDir, b.cfg.VerifyKey)
	if err != nil {
		b.warn("the store's retention setting cannot be read: %v", err)
		return fmt.Sprintf("Retention setting of the collector: NOT KNOWN, %v.\n\n%s", err, b.flagRetention(nil))
	}
	if !rs.Recorded {
		b.warn("the store records no retention setting (its head predates the record or it has no head)")
		return "Retention setting of the collector: NOT RECORDED by the store (its head predates the record, or it has no head).\n\n" + b.flagRetention(nil)
	}
	how := "verified with the collector's key"
	if !rs.Verified {
		how = "NOT VERIFIED: no collector key was given"
	}
	out := fmt.Sprintf("Retention setting of the collector: %s, recorded in the store's signed head of %s (%s).\n\n",
		retentionText(rs.Retention), rfc(rs.Signed), how)
	return out + b.flagRetention(&rs.Retention)
}

// flagRetention compares the --retention flag with the store's setting.
func (b *builder) flagRetention(store *time.Duration) string {
	if b.cfg.Retention == "" {
		return ""
	}
	flag, err := collector.ParseRetention(b.cfg.Retention)
	switch {
	case err != nil:
		b.warn("--retention %q: %v", b.cfg.Retention, err)
		return fmt.Sprintf("The --retention given to the pack (%q) does not parse: %v.\n\n", b.cfg.Retention, err)
	case store == nil:
		return fmt.Sprintf("The --retention given to the pack says %s; the store does not confirm it.\n\n", retentionText(flag))
	case flag != *store:
		b.warn("--retention %s disagrees with the store's recorded setting %s; the pack reports the store's", retentionText(flag), retentionText(*store))
		return fmt.Sprintf("MISMATCH: the --retention given to the pack says %s, the store records %s. The store's setting is the one in force.\n\n",
			retentionText(flag), retentionText(*store))
	}
	return fmt.Sprintf("The --retention given to the pack (%s) agrees with the store.\n\n", retentionText(flag))
}

// retentionText names a retention: whole days when it is, else the
// duration; 0 keeps everything.
func retentionText(d time.Duration) string {
	if d == 0 {
		return "keep all (0)"
	}
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// warn records a problem the command line reports.
func (b *builder) warn(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
}
