package evidence

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// eventsByDir is the part of an event's etcd key that puts it under an
// etcd user's own directory (etcdsync.Layout.EventsBy), which etcd's
// authentication lets only that user's role write.
const eventsByDir = "/events-by/"

// eventsDir is the part of an event's etcd key that puts it under
// events/, which binds no person.
const eventsDir = "/events/"

// eventsByUser returns the etcd user whose directory holds key:
// <prefix>/events-by/<user>/<rest>, exactly as etcdsync.Layout.EventsBy
// makes it (the user escaped as it escapes, rest not empty); ok is false
// for any other key, one naming "/events-by/" anywhere else among them
// (under events/, or under another directory: the rest of a key is its
// writer's to choose, and no role is granted such a range). A pack built
// with no prefix takes the part of key before its first "/events-by/" for
// it, when that part names no "/events/" directory.
func eventsByUser(key, prefix string) (user string, ok bool) {
	if prefix == "" {
		i := strings.Index(key, eventsByDir)
		if i <= 0 || strings.Contains(key[:i+1], eventsDir) {
			return "", false
		}
		prefix = key[:i]
	}
	k := etcdsync.NewLayout(prefix)
	if user, ok = k.EventWriter(key); !ok || len(key) == len(k.EventsBy(user)) {
		return "", false
	}
	return user, true
}

// unboundUser is how the pack names the etcd user of an event under
// events/: any writer of events/ may name anyone, so it is bound to no
// person, whatever it claims.
const unboundUser = "bound to no person"

// authOffUser is how the pack names the etcd user of an event the
// follower read under events-by/ written while etcd's authentication was
// off, or not shown on since before its revision (etcdadmin.FlagAuthOff:
// a collector's first start, a user or role changed, etcd restored): any
// client could have written any directory then. It said "authentication
// was off" of all of them, which an auditor would take for a fact.
const authOffUser = "unproven, etcd authentication off or not shown on when written"

// authOff reports whether ev was read under events-by/ written while
// etcd's authentication was off or not shown on (authOffUser).
func authOff(ev *collector.Event) bool {
	return strings.Contains(ev.Unverified, etcdadmin.FlagAuthOff)
}

// authOffWarning says how many events of the period name an etcd user
// that etcd's authentication did not bind, or "".
func (b *builder) authOffWarning() string {
	n := 0
	for i := range b.events {
		if authOff(&b.events[i]) {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d events of the period were read from etcd under events-by/ written while etcd authentication was off or not shown on since before them (%s: authentication off, the collector's first start, an etcd user or role changed, or etcd restored): any client could have written any user's directory then, so the etcd users they name are unproven (their etcd_user cells say %q)",
		n, etcdadmin.FlagAuthOff, authOffUser)
}

// etcdUsers returns the etcd user the key of ev binds (the follower sets
// it from the key of an event under events-by/, etcdadmin's bindEvent),
// and the one its value only claims: an event under events/ binds none,
// nor one whose key lies in no user's directory directly under prefix
// (eventsByUser) or in another directory than the user it names, and one
// stored before the follower told them apart names its claim as
// etcd_user.
func etcdUsers(ev *collector.Event, d map[string]string, prefix string) (bound, claimed string) {
	if user, ok := eventsByUser(ev.Key, prefix); ok && d[etcdadmin.DetailEtcdUser] == user {
		return user, d[etcdadmin.DetailClaimedEtcdUser]
	}
	return "", cmp.Or(d[etcdadmin.DetailClaimedEtcdUser], d[etcdadmin.DetailEtcdUser])
}

// etcdUserCell is the pack's cell for the etcd user of ev: the user its
// key binds, or, for an event under events/, unboundUser with what it
// claims; "" for an event the follower made (a change by hand), whose
// key is the record's.
func etcdUserCell(ev *collector.Event, d map[string]string, prefix string) string {
	bound, claimed := etcdUsers(ev, d, prefix)
	switch {
	case authOff(ev):
		return authOffUser + " (claims " + cmp.Or(bound, claimed) + ")"
	case bound != "":
		return bound
	case !strings.Contains(ev.Key, eventsDir) && !strings.Contains(ev.Key, eventsByDir):
		return ""
	case claimed != "":
		return unboundUser + " (claims " + claimed + ")"
	}
	return unboundUser
}

// eventUser is the etcd user ev names, bound or only claimed: the
// two-person check (selfApproved) flags a grant naming the request's
// either way.
func eventUser(ev *collector.Event, d map[string]string, prefix string) string {
	bound, claimed := etcdUsers(ev, d, prefix)
	return cmp.Or(bound, claimed)
}
