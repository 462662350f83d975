package main

import (
	"context"
	"errors"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"time"

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
}

// contain carries out the rule action of a in the background, so that the
// batch whose records fired it is acknowledged without waiting for etcd.
func (c *container) contain(ctx context.Context, a alert.Alert) {
	if a.RuleAction == "" || a.RuleAction == "notify" {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := alert.Contain(ctx, c.acts, &a, c.eng.SuspendFor(a.Rule)); err != nil {
			c.log.Error().Err(err).Str("alert", a.ID).Msg("containment failed; retried at the next start")
			return
		}
		c.log.Warn().Str("alert", a.ID).Str("action", a.RuleAction).Str("client", a.Client).Msg("alert contained")
	}()
}
