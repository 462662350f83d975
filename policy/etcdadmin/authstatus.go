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

// AuthMark is what the follower proved of etcd's authentication, for a
// caller to keep across restarts (Witnesses.Auth): etcd's auth revision
// (AuthStatus) at a read that found authentication on, and the etcd
// revision After which it has been on since. etcd applies AuthStatus in
// its log, so the read's header revision is the one authentication was
// on at, and disabling authentication moves the auth revision on
// (etcd's authStore.AuthDisable commits a new one): a later read finding
// authentication on at the same auth revision proves it stayed on in
// between. The zero AuthMark proves nothing.
type AuthMark struct {
	Revision uint64
	After    int64
}

// authSeen is what the follower last read of etcd's authentication: on,
// off, or, until a read succeeds, why it could not be read; at is the
// etcd revision of the last read, mark what it proved while on, and seed
// the mark a caller kept from before (FollowEventsAfter).
type authSeen struct {
	read, on   bool
	why        string
	at         int64
	mark, seed AuthMark
}

// update reads etcd's authentication status. A failed read keeps what
// the last one found; before any succeeds, the status is unproven.
// Authentication found on moves the mark's After to this read's revision
// unless the read before (or, for the first, the seed) found it on at
// the same auth revision: it may have been off in between, and every
// write up to here may have been made while it was
// (TestFollowUnprovenForAnEventWrittenWhileAuthWasOff).
func (s *authSeen) update(ctx context.Context, a *Admin) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := a.cli.AuthStatus(cctx)
	if err != nil {
		if !s.read {
			s.why = fmt.Errorf("cannot read etcd's authentication status: %w", err).Error()
		}
		return
	}
	rev := AuthMark{Revision: resp.AuthRevision, After: resp.Header.GetRevision()}
	switch {
	case !resp.Enabled:
		s.mark = AuthMark{}
	case s.read && s.on && s.mark.Revision == rev.Revision:
	case !s.read && s.seed.Revision != 0 && s.seed.Revision == rev.Revision:
		s.mark = s.seed
	default:
		s.mark = rev
	}
	s.read, s.on, s.why, s.at = true, resp.Enabled, "", rev.After
}

// kept returns the mark for the caller to keep: the zero AuthMark unless
// authentication was last read on.
func (s *authSeen) kept() AuthMark {
	if s == nil || !s.read || !s.on {
		return AuthMark{}
	}
	return s.mark
}

// unbound returns why an event written at etcd revision rev and read now
// under events-by/ binds no etcd user, or "" when etcd's authentication
// is on and has been since before rev, up to a read at rev or past it
// (a failed read leaves the last one, which proves nothing of later
// revisions).
func (s *authSeen) unbound(rev int64) string {
	switch {
	case s.read && s.on && rev > s.mark.After && rev <= s.at:
		return ""
	case s.read && s.on && rev > s.at:
		return fmt.Sprintf("etcd's authentication status could not be read at revision %d, which the event was written at (last read at revision %d)", rev, s.at)
	case s.read && s.on:
		return fmt.Sprintf("etcd authentication, on now, is not proven on at revision %d, which the event was written at (found on since revision %d only: a reader proves it on from its first read, or from the mark it kept)", rev, s.mark.After)
	case s.read:
		return "etcd authentication is off"
	case s.why != "":
		return s.why
	}
	return "etcd's authentication status was not read"
}

// authFlagged wraps fn so that every event under events-by/ that names
// the etcd user of its directory is passed on unbound (unbindAuthOff)
// unless etcd's authentication was on when it was written, as s finds
// it: s is read again first when the batch holds such an event written
// after its last read, which it may not cover (authentication turned off
// and on again since).
func (a *Admin) authFlagged(ctx context.Context, s *authSeen, fn func([]Event) error) func([]Event) error {
	return func(evs []Event) error {
		if a.bindsPast(evs, s.at) {
			s.update(ctx, a)
		}
		for i := range evs {
			if why := s.unbound(evs[i].Revision); why != "" {
				a.unbindAuthOff(&evs[i], why)
			}
		}
		return fn(evs)
	}
}

// bindsPast reports whether evs holds an event under events-by/ naming
// its directory's etcd user written after etcd revision at.
func (a *Admin) bindsPast(evs []Event, at int64) bool {
	for i := range evs {
		if evs[i].Revision > at && evs[i].Details[DetailEtcdUser] != "" && strings.HasPrefix(evs[i].Key, a.k.EventsByDir()) {
			return true
		}
	}
	return false
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
