package collector

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/rs/zerolog"
)

// ForwardEvents stores the control-plane lifecycle events from etcd in
// store, so create, rotate, revoke and suspend sit in the same
// tamper-evident trail as the requests. The last stored etcd revision is
// kept in revFile (written atomically), so a restart resumes; the store
// skips an event it holds already. The last event a check found etcd's
// history to hold is kept beside it (WitnessPath), signed by the store's
// key (ReadWitnesses), so that a restart
// checks etcd's history against it and not only against the last event
// stored, which may be one of a restored etcd
// (etcdadmin.FollowEventsAfter). It retries, logging each failure, until
// ctx ends, and returns then. When etcd's authentication is off, it says
// so in a warn line at each start and when an event it stores is flagged
// for it (etcdadmin.FlagAuthOff): events-by/ then binds no etcd user.
func ForwardEvents(ctx context.Context, admin *etcdadmin.Admin, store *Store, revFile string, log zerolog.Logger) {
	for ctx.Err() == nil {
		err := followOnce(ctx, admin, store, revFile, log, authWarner(ctx, admin, log))
		if ctx.Err() == nil {
			log.Warn().Err(err).Msg("following lifecycle events failed; retrying")
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// followOnce follows the events from the revision in revFile until ctx
// ends or storing fails, logging a warn line for each delete whose lease
// etcd did not answer for (uncheckedLease) and, once, when events bind no
// etcd user because authentication is off (authOff, from authWarner).
func followOnce(ctx context.Context, admin *etcdadmin.Admin, store *Store, revFile string, log zerolog.Logger, authOff func([]Event)) error {
	from, err := ReadResumeRevision(revFile)
	if err != nil {
		return err
	}
	if from, err = resumeNoLaterThanTheTrail(ctx, admin, store, from, revFile, log); err != nil {
		return err
	}
	wf := WitnessPath(revFile)
	key, told, err := trustedWitnesses(wf, store, log)
	if err != nil {
		return err
	}
	through := store.LastEventRevision()
	keep := func(w etcdadmin.Witnesses) error {
		if w == told {
			return nil // every check confirms the same event until the next is stored
		}
		if err := writeWitnessesThrough(wf, key, w, witnessPos{through, store.LastRewind()}); err != nil {
			return err
		}
		told = w
		return nil
	}
	ws := etcdadmin.Witnesses{Last: store.Witness(), Confirmed: told.Confirmed, First: told.First, Auth: told.Auth}
	return admin.FollowEventsAfter(ctx, from, ws, keep, func(evs []etcdadmin.Event) error {
		out, err := EtcdEvents(evs)
		if err != nil {
			return err
		}
		for i, e := range out {
			// The rewind names the revision etcd went back to, not the
			// later one it answered at (rewindfloor.go).
			if now, ok := etcdadmin.RewindRevision(e.Key); ok && e.Revision == 0 && e.Action == etcdadmin.ActionEventsRewind {
				rev, err := rewoundTo(ctx, admin, store, e.Cluster, now, forkedAt(evs[i]))
				if err != nil {
					return fmt.Errorf("collector: cannot find the revision etcd went back to: %w", err)
				}
				out[i].Key, _ = etcdadmin.RewindKeyAt(e.Key, rev)
			}
		}
		authOff(out)
		if err := throughBatch(wf, key, told, &through, store.LastRewind(), evs); err != nil {
			return err
		}
		if err := store.AppendEvents(out); err != nil {
			return err
		}
		through = store.LastEventRevision() // down with a rewind: stayed up, older copies said it too
		uncheckedLease(out, log)
		return WriteResumeRevision(revFile, evs[len(evs)-1].Revision)
	})
}

// resumeNoLaterThanTheTrail returns the revision to follow from: from,
// the resume file's, or the revision of the last event the store holds
// when etcd holds an event written after it and at most at from. The file
// is a shortcut the trail does not sign: whoever can write the data
// directory moved it ahead, past events written while the collector was
// down, and the watch from there never stored them. Resuming from the
// store's event stores them; those between stored already are skipped as
// such. It logs an error line naming both revisions when it does.
func resumeNoLaterThanTheTrail(ctx context.Context, admin *etcdadmin.Admin, store *Store, from int64, revFile string, log zerolog.Logger) (int64, error) {
	last := store.LastEventRevision()
	if last <= 0 || last >= from {
		return from, nil
	}
	missed, err := admin.EventWrittenBetween(ctx, last, from)
	if err != nil || missed == 0 {
		return from, err
	}
	log.Error().Str("file", revFile).Int64("resume_revision", from).Int64("last_event_stored", last).Int64("event_not_stored", missed).
		Msg("the resume revision is past events the trail does not hold (the file was edited or put back from elsewhere); following from the last event stored")
	return last, nil
}

// throughBatch records in the witness file wf, before the store holds
// the batch evs, the newest etcd revision it holds then (through, moved
// on): a copy of the file taken before then, put back, is older than
// the store at the next start and not trusted (trustedWitnesses). Written
// first, a crash before the batch is stored leaves the file ahead of the
// store, which is trusted, never behind it. The caller sets through to
// the store's newest revision once the batch is stored, which comes down
// when etcd restored from a backup went back (an events.rewind): kept at
// the revision followed before, every witness written until the restored
// etcd passed it said it, and an older copy of them put back was trusted
// (TestWitnessOlderCopyAfterARewindIsNotTrusted).
func throughBatch(wf string, key ed25519.PrivateKey, told etcdadmin.Witnesses, through *int64, rewound uint64, evs []etcdadmin.Event) error {
	rev := evs[len(evs)-1].Revision
	if rev <= *through {
		return nil
	}
	if err := writeWitnessesThrough(wf, key, told, witnessPos{rev, rewound}); err != nil {
		return err
	}
	*through = rev
	return nil
}

// trustedWitnesses reads the witness file wf with the store's key, and
// returns that key, which signs the file from then on. A file the key did
// not sign but which may be read as none (ErrWitnessNotTrusted: unsigned,
// or signed before a key rotation), or one written before the store held
// the newest event it holds (an older copy put back, or one written
// before the file recorded it: olderWitness), or before the last
// events.rewind the store holds (a copy from before etcd was restored:
// unrewoundWitness), is reported in a warn line and replaced at once by a
// signed none, so it is reported once.
func trustedWitnesses(wf string, store *Store, log zerolog.Logger) (ed25519.PrivateKey, etcdadmin.Witnesses, error) {
	key, older := store.witnessKeys()
	last, rewound := store.LastEventRevision(), store.LastRewind()
	ws, pos, err := readWitnesses(wf, key.Public().(ed25519.PublicKey), older)
	switch {
	case err != nil || ws == (etcdadmin.Witnesses{}):
	case pos.through < last:
		ws, err = etcdadmin.Witnesses{}, olderWitness(wf, pos.through, last)
	case pos.rewound < rewound:
		ws, err = etcdadmin.Witnesses{}, unrewoundWitness(wf, pos.rewound, rewound)
	}
	if errors.Is(err, ErrWitnessNotTrusted) {
		log.Warn().Err(err).Msg("events witness not trusted; replaced by a signed empty one")
		err = writeWitnessesThrough(wf, key, etcdadmin.Witnesses{}, witnessPos{last, rewound})
	}
	return key, ws, err
}

// olderWitness is the error for a witness file written when the store
// held events up to etcd revision through, read by a store holding one
// at last, later: a copy put back from before (its witnesses and auth
// mark say nothing of what was stored since), or a file written before
// collectors recorded through (0).
func olderWitness(wf string, through, last int64) error {
	return fmt.Errorf("%w: %q was written when the store held events up to etcd revision %d, and it holds one at %d (an older copy put back, or written before witnesses recorded it): read as none, so the next check reads the last event stored and events under events-by/ written while the collector was down are stored with their etcd users unproven", ErrWitnessNotTrusted, wf, through, last)
}

// unrewoundWitness is the error for a witness file written before the
// events.rewind the store holds at entry seq rewound (the file's was at
// seq at): a copy from before etcd was restored from a backup, put back,
// whose witnesses and auth mark are of the history etcd went back from,
// or a file written before witnesses recorded it.
func unrewoundWitness(wf string, at, rewound uint64) error {
	return fmt.Errorf("%w: %q was written before etcd was restored from a backup (the store holds the events.rewind of entry %d, the file knows of one at entry %d at most: an older copy put back, or written before witnesses recorded it): read as none, so the next check reads the last event stored and events under events-by/ written while the collector was down are stored with their etcd users unproven", ErrWitnessNotTrusted, wf, rewound, at)
}

// uncheckedLease logs a warn line for each event of evs flagged
// etcdadmin.FlagLeaseUnchecked: a delete stored flagged because etcd did
// not answer whether its lease held, which an operator should look at
// (the trail cannot tell it from the lease's end). It names the action,
// the key and the revision, never a value.
func uncheckedLease(evs []Event, log zerolog.Logger) {
	for i := range evs {
		if e := &evs[i]; strings.HasPrefix(e.Unverified, etcdadmin.FlagLeaseUnchecked) {
			log.Warn().Str("action", e.Action).Str("key", e.Key).Int64("revision", e.Revision).
				Msg("lifecycle event stored flagged " + etcdadmin.FlagLeaseUnchecked + ": etcd did not answer whether the deleted record's lease still held")
		}
	}
}

// authWarner logs a warn line when etcd's authentication is off, asked
// now (AuthStatus), and returns what logs it, once, when a batch holds an
// event flagged for it (etcdadmin.FlagAuthOff, authentication turned off
// while following): without it any client writes any events-by/<user>/
// directory, and the trail's etcd users are unproven.
func authWarner(ctx context.Context, admin *etcdadmin.Admin, log zerolog.Logger) func([]Event) {
	warned := false
	warn := func(why string) {
		if !warned {
			warned = true
			log.Warn().Str("prefix", admin.Prefix()).Str("found", why).Msg("etcd authentication is off: any client may write any events-by/<user>/ directory, so the events under it bind no etcd user; they are stored flagged " + etcdadmin.FlagAuthOff + " and the evidence pack shows their etcd users as unproven")
		}
	}
	if on, err := admin.AuthEnabled(ctx); err == nil && !on {
		warn("etcd answered AuthStatus: disabled")
	}
	return func(evs []Event) {
		for i := range evs {
			if strings.Contains(evs[i].Unverified, etcdadmin.FlagAuthOff) {
				warn("an event read under events-by/ written while authentication was off or not proven on")
				return
			}
		}
	}
}

// forkedAt returns the event etcd's history no longer held, which an
// events.rewind event names (etcdadmin.FollowEventsAfter), or the zero
// Witness.
func forkedAt(e etcdadmin.Event) etcdadmin.Witness {
	rev, err := strconv.ParseInt(e.Details["forked_revision"], 10, 64)
	if err != nil || e.Details["forked_key"] == "" {
		return etcdadmin.Witness{}
	}
	return etcdadmin.Witness{Key: e.Details["forked_key"], Revision: rev}
}

// EtcdEvents maps lifecycle events read from etcd to the events the store
// keeps: time, key and revision are etcd's, the value's time is kept as
// the claimed time.
func EtcdEvents(evs []etcdadmin.Event) ([]Event, error) {
	out := make([]Event, len(evs))
	for i, e := range evs {
		var raw json.RawMessage
		if len(e.Details) > 0 {
			var err error
			if raw, err = json.Marshal(e.Details); err != nil {
				return nil, fmt.Errorf("collector: cannot encode the details of event %q: %w", e.Key, err)
			}
		}
		out[i] = Event{Time: e.Observed, Key: e.Key, Revision: e.Revision, Cluster: e.Cluster, ClaimedTime: e.Time,
			Unverified: e.Unverified, Actor: e.Actor, Action: e.Action, Target: e.Target, Reason: e.Reason,
			Ticket: e.Ticket, Details: raw}
	}
	return out, nil
}
