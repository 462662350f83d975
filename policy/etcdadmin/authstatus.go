package etcdadmin

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"
)

// FlagAuthOff starts the Unverified of an event the follower read from
// events-by/<user>/ while etcd's authentication was off (or its status
// could not be read): without authentication any client writes any
// directory, so the directory binds no etcd user. The follower then
// keeps the directory's user as DetailClaimedEtcdUser, never as
// DetailEtcdUser.
const FlagAuthOff = "event.etcd_auth_off"

// AuthEnabled reports whether etcd's authentication is on, as etcd's
// AuthStatus answers it (any user may ask).
func (a *Admin) AuthEnabled(ctx context.Context) (bool, error) {
	resp, err := a.cli.AuthStatus(ctx)
	if err != nil {
		return false, fmt.Errorf("cannot read etcd's authentication status: %w", err)
	}
	return resp.Enabled, nil
}

// authSeen is what the follower last read of etcd's authentication: on,
// off, or, until a read succeeds, why it could not be read.
type authSeen struct {
	read, on bool
	why      string
}

// update reads etcd's authentication status. A failed read keeps what
// the last one found; before any succeeds, the status is unproven.
func (s *authSeen) update(ctx context.Context, a *Admin) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	on, err := a.AuthEnabled(cctx)
	switch {
	case err == nil:
		s.read, s.on, s.why = true, on, ""
	case !s.read:
		s.why = err.Error()
	}
}

// unbound returns why an event read now under events-by/ binds no etcd
// user, or "" when etcd's authentication is on.
func (s *authSeen) unbound() string {
	switch {
	case s.read && s.on:
		return ""
	case s.read:
		return "etcd authentication is off"
	case s.why != "":
		return s.why
	}
	return "etcd's authentication status was not read"
}

// authFlagged wraps fn so that every event under events-by/ that names
// the etcd user of its directory is passed on unbound while s finds
// etcd's authentication off (unbindAuthOff).
func (a *Admin) authFlagged(s *authSeen, fn func([]Event) error) func([]Event) error {
	return func(evs []Event) error {
		if why := s.unbound(); why != "" {
			for i := range evs {
				a.unbindAuthOff(&evs[i], why)
			}
		}
		return fn(evs)
	}
}

// unbindAuthOff moves the etcd user of ev, an event read under
// events-by/<user>/ while etcd's authentication was off (why), to
// DetailClaimedEtcdUser (unless its value claimed another), and flags it
// FlagAuthOff: the directory binds no one then.
func (a *Admin) unbindAuthOff(ev *Event, why string) {
	user := ev.Details[DetailEtcdUser]
	if user == "" || !strings.HasPrefix(ev.Key, a.k.EventsByDir()) {
		return
	}
	ev.Details = maps.Clone(ev.Details)
	delete(ev.Details, DetailEtcdUser)
	if ev.Details[DetailClaimedEtcdUser] == "" {
		ev.Details[DetailClaimedEtcdUser] = user
	}
	flag := fmt.Sprintf("%s: read from %q while %s: any client may write any directory under %q then, so it binds no etcd user (%q is only claimed)",
		FlagAuthOff, a.k.EventsBy(user), why, a.k.EventsByDir(), user)
	ev.Unverified = joinFlags(flag, ev.Unverified)
}
