package etcdsync

import (
	"time"
)

// lost records that etcd did not answer: the first failure after etcd
// was reachable is logged at warn, later ones only at debug, so an outage
// is one line, not one per retry (issue 13 item 8).
func (s *Syncer) lost(err error, what string) {
	now := time.Now().UnixNano()
	if !s.down.CompareAndSwap(0, now) {
		s.cfg.Logger.Debug().Err(err).Msg(what)
		return
	}
	// The endpoints, so the operator knows which etcd to look at (the
	// error is often only "context deadline exceeded"); and, before any
	// policy was installed, no claim of one in force: the sidecar serves
	// nothing until etcd answers or a last-known-good file is read.
	ev := s.cfg.Logger.Warn().Err(err).Strs("endpoints", s.cli.Endpoints()).Int64("revision", s.revision.Load())
	if s.store.Load() == nil {
		ev.Msg("etcd unreachable: nothing in force yet (no policy read)")
		return
	}
	ev.Msg("etcd unreachable: enforcing the policy in force until it answers")
}

// reached records that etcd answered a read (a watch stream can outlive
// the reads, so its progress notifications are no evidence); the first answer after an outage is
// logged at info with how long etcd was unreachable.
func (s *Syncer) reached() {
	since := s.down.Swap(0)
	if since == 0 {
		return
	}
	s.cfg.Logger.Info().Dur("outage", time.Duration(time.Now().UnixNano()-since)).
		Int64("revision", s.revision.Load()).Msg("etcd reachable again")
}
