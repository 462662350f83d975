package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/portcullis/portcullis/collector"
)

// tenantsCommands are the subcommands of portcullis tenants.
func tenantsCommands() group {
	return group{
		"top": {run: tenantsTop, summary: "tenants by share of requests, throttled requests (429) and bytes, from the audit trail"},
	}
}

func tenantsTop(args []string) int {
	fs := flag.NewFlagSet("tenants top", flag.ContinueOnError)
	dir := fs.String("data", "", "collector data `directory`")
	from := fs.String("from", "", "earliest record `time` (inclusive): RFC 3339 or a date, 2026-12-01")
	to := fs.String("to", "", "latest record `time` (exclusive): RFC 3339 or a date")
	by := fs.String("by", collector.ByRequests, "rank by `count`: requests, throttled or bytes")
	limit := fs.Int("limit", 20, "most `tenants` listed (0: all); the totals count every tenant")
	format := fs.String("format", collector.OutputTable, "output: table or json")
	var k trailKey
	k.register(fs, true)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fromT, toT, err := parseRange(*from, *to)
	if err = errors.Join(err, checkTopFlags(*dir, *by, *format, *limit)); err != nil {
		return usageError(os.Stderr, fs.Name(), err)
	}
	pub, opts, err := k.options(*dir)
	var rep *collector.TenantReport
	var vrep *collector.VerifyReport
	if err == nil {
		rep, vrep, err = collector.TopTenantsVerified(*dir, fromT, toT, *by, *limit, pub, opts)
	}
	if err == nil && *format == collector.OutputJSON {
		err = rep.WriteJSON(stdout)
	} else if err == nil {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "portcullis tenants top:", err)
		return 1
	}
	return verifiedExit(os.Stderr, fs.Name(), "records", vrep)
}

// checkTopFlags checks the flags of tenants top that parsing cannot.
func checkTopFlags(dir, by, format string, limit int) error {
	switch {
	case dir == "":
		return errors.New("--data is required; name the collector's data directory")
	case by != collector.ByRequests && by != collector.ByThrottled && by != collector.ByBytes:
		return fmt.Errorf("--by %s: want requests, throttled or bytes", by)
	case format != collector.OutputTable && format != collector.OutputJSON:
		return fmt.Errorf("--format %s: want table or json", format)
	case limit < 0:
		return fmt.Errorf("--limit %d: want 0 (all) or more", limit)
	}
	return nil
}
