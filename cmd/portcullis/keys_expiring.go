package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// keysExpiring prints the keys that stop being valid within the window,
// soonest first, with their ages against the policy's max_key_age:
// `portcullis keys list --expiring 30d`.
func keysExpiring(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, keys []etcdadmin.KeyInfo, within time.Duration, out io.Writer) error {
	life, err := a.Lifecycle(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	ages := etcdadmin.Expiring(keys, life, now, within)
	if f.json {
		return printJSON(out, ages)
	}
	maxAge, _ := life.Ages()
	fmt.Fprintf(out, "keys that stop being valid within %s (max_key_age %s)\n", fmtDays(within), orDash(fmtDays(maxAge)))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCLIENT\tAGE\tMAX AGE\tEXPIRES\tBY\tIN\tSTATUS")
	for _, k := range ages {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", collector.Cell(k.ID), collector.Cell(k.Client), orDash(fmtDays(k.Age)), orDash(fmtDays(k.MaxAge)),
			k.Expires.UTC().Format(time.RFC3339), k.ExpiresBy, fmtDays(k.Expires.Sub(now).Truncate(time.Minute)), ageStatus(k))
	}
	return tw.Flush()
}

// ageStatus says where a key stands against the policy.
func ageStatus(k etcdadmin.KeyAge) string {
	switch {
	case k.Overdue:
		return "over max_key_age: refused"
	case k.ExpiresBy == "not_after" && !k.Expires.After(time.Now()):
		return "expired"
	}
	return "rotate"
}

// fmtDays writes d in days and hours ("32d4h"), "" for 0.
func fmtDays(d time.Duration) string {
	if d == 0 {
		return ""
	}
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	days, hours := d/(24*time.Hour), (d%(24*time.Hour))/time.Hour
	switch {
	case days == 0:
		return sign + (d % (24 * time.Hour)).Truncate(time.Minute).String()
	case hours == 0:
		return fmt.Sprintf("%s%dd", sign, days)
	}
	return fmt.Sprintf("%s%dd%dh", sign, days, hours)
}
