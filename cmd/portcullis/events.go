package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/rs/zerolog"
)

// forwardEvents stores the control-plane lifecycle events from etcd in the
// audit store, so create, rotate, revoke and suspend sit in the same
// tamper-evident trail as the requests. The last stored etcd revision is
// kept in revFile (written atomically), so a restart resumes; the store
// skips an event it holds already. It retries until ctx ends.
func forwardEvents(ctx context.Context, admin *etcdadmin.Admin, store *audit.Store, revFile string, log zerolog.Logger) {
	for ctx.Err() == nil {
		err := followOnce(ctx, admin, store, revFile)
		if ctx.Err() == nil {
			log.Warn().Err(err).Msg("following lifecycle events failed; retrying")
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func followOnce(ctx context.Context, admin *etcdadmin.Admin, store *audit.Store, revFile string) error {
	from, err := audit.ReadResumeRevision(revFile)
	if err != nil {
		return err
	}
	return admin.FollowEvents(ctx, from, func(evs []etcdadmin.Event) error {
		if err := store.AppendEvents(toAuditEvents(evs)); err != nil {
			return err
		}
		return audit.WriteResumeRevision(revFile, evs[len(evs)-1].Revision)
	})
}

// toAuditEvents maps events read from etcd: time, key and revision are
// etcd's, the value's time is kept as the claimed time.
func toAuditEvents(evs []etcdadmin.Event) []audit.Event {
	out := make([]audit.Event, len(evs))
	for i, e := range evs {
		var raw json.RawMessage
		if len(e.Details) > 0 {
			raw, _ = json.Marshal(e.Details)
		}
		out[i] = audit.Event{Time: e.Observed, Key: e.Key, Revision: e.Revision, ClaimedTime: e.Time,
			Unverified: e.Unverified, Actor: e.Actor, Action: e.Action, Target: e.Target, Reason: e.Reason,
			Ticket: e.Ticket, Details: raw}
	}
	return out
}
