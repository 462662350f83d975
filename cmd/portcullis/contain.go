package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/alert"
)

// etcdActions wires containment to etcd: a leased suspension, a
// revocation and the alert.contain event, each a lifecycle event by
// actor whose reason names the alert.
func etcdActions(admin *etcdadmin.Admin, actor, etcdUser string) alert.Actions {
	meta := func(reason, ticket string) etcdadmin.Meta {
		return etcdadmin.Meta{Actor: actor, Reason: reason, Ticket: ticket, EtcdUser: etcdUser}
	}
	return alert.Actions{
		Suspend: func(ctx context.Context, client string, d time.Duration, reason, ticket string) error {
			_, err := admin.SuspendAtLeast(ctx, client, d, meta(reason, ticket)) // never shortens an operator's
			return err
		},
		Revoke: func(ctx context.Context, keyID, reason, ticket string) error {
			_, err := admin.RevokeKey(ctx, keyID, meta(reason, ticket))
			if errors.Is(err, etcdadmin.ErrExists) {
				return nil // revoked already: contained
			}
			return err
		},
		Record: func(ctx context.Context, alertID, reason, ticket string, details map[string]string) error {
			_, err := admin.RecordAlertEvent(ctx, alert.ActionContain, alertID, meta(reason, ticket), details)
			return err
		},
	}
}

// container runs the rule actions of the collector's alerts through etcd.
type container struct {
	acts alert.Actions
	eng  *alert.Engine
	log  *zerolog.Logger
	// attempt bounds one try; a failed try is retried after minWait,
	// doubling up to maxWait (with jitter), until it succeeds, the alert
	// is closed or contained otherwise, or the collector stops.
	attempt, minWait, maxWait time.Duration
}

// newContainer returns a container with the collector's timings: 30 s a
// try, retried after 1 s, doubling up to a minute.
func newContainer(acts alert.Actions, eng *alert.Engine, log *zerolog.Logger) *container {
	return &container{acts: acts, eng: eng, log: log, attempt: 30 * time.Second, minWait: time.Second, maxWait: time.Minute}
}

// contain carries out the rule action of a in the background, so that the
// batch whose records fired it is acknowledged without waiting for etcd.
// An etcd out of reach does not leave the alert uncontained until the
// next start: the action is tried again until it is done.
func (c *container) contain(ctx context.Context, a alert.Alert) {
	if a.RuleAction == "" || a.RuleAction == "notify" {
		return
	}
	go c.run(ctx, a)
}

// run tries the containment of a until it succeeds or needs no more.
func (c *container) run(ctx context.Context, a alert.Alert) {
	wait := c.minWait
	for {
		err := c.try(ctx, &a)
		if err == nil {
			c.log.Warn().Str("alert", a.ID).Str("action", a.RuleAction).Str("client", a.Client).Msg("alert contained")
			return
		}
		if errors.Is(err, alert.ErrNothingToContain) {
			c.log.Error().Err(err).Str("alert", a.ID).Msg("containment failed; nothing to retry")
			return
		}
		c.log.Error().Err(err).Str("alert", a.ID).Dur("retry_in", wait).Msg("containment failed; retrying")
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, c.maxWait)
		if cur, ok := c.eng.Alert(a.ID); ok && (cur.Status == alert.StatusClosed || cur.Status == alert.StatusContained) {
			return // closed, or contained by hand, meanwhile
		}
	}
}

// try is one attempt of the containment of a, bounded by c.attempt.
func (c *container) try(ctx context.Context, a *alert.Alert) error {
	ctx, cancel := context.WithTimeout(ctx, c.attempt)
	defer cancel()
	return alert.Contain(ctx, c.acts, a, c.eng.SuspendFor(a.Rule))
}
