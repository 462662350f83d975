package etcdsync

// Restarts and Down let the external tests (package etcdsync_test, which
// may import etcdadmin and the data plane) read Syncer state that has no
// exported reader.

// Restarts returns the watches lost and followed by a full re-read.
func (s *Syncer) Restarts() int64 { return s.restarts.Load() }

// Down returns the unix nanoseconds etcd stopped answering, 0 while it answers.
func (s *Syncer) Down() int64 { return s.down.Load() }
