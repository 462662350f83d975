package etcdsync

// TrackedCounters returns how many use counters the ledger holds.
func (l *Ledger) TrackedCounters() int { c := l.state.Load().counters; return c.len() }

// Tracks reports whether the ledger holds the record of approval id.
func (l *Ledger) Tracks(id string) bool { r := l.state.Load().records; return r.has(id) }
