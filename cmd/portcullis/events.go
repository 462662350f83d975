package main

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// forwardEvents stores the control-plane lifecycle events from etcd in the
// audit store, so create, rotate, revoke and suspend sit in the same
// tamper-evident trail as the requests. The last stored etcd revision is
// kept in revFile, so a restart resumes without duplicates. It retries
// until ctx ends.
func forwardEvents(ctx context.Context, admin *etcdsync.Admin, store *audit.Store, revFile string, log zerolog.Logger) {
	for ctx.Err() == nil {
		err := admin.FollowEvents(ctx, readRev(revFile), func(evs []etcdsync.Event) error {
			if err := store.AppendEvents(toAuditEvents(evs)); err != nil {
				return err
			}
			return os.WriteFile(revFile, []byte(strconv.FormatInt(evs[len(evs)-1].Revision, 10)), 0o600)
		})
		if ctx.Err() == nil {
			log.Warn().Err(err).Msg("following lifecycle events failed; retrying")
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func readRev(path string) int64 {
	b, _ := os.ReadFile(path)
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

func toAuditEvents(evs []etcdsync.Event) []audit.Event {
	out := make([]audit.Event, len(evs))
	for i, e := range evs {
		details := map[string]string{"etcd_revision": strconv.FormatInt(e.Revision, 10)}
		for k, v := range e.Details {
			details[k] = v
		}
		raw, _ := json.Marshal(details)
		out[i] = audit.Event{Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, Reason: e.Reason, Ticket: e.Ticket, Details: raw}
	}
	return out
}
