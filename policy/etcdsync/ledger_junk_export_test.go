package etcdsync

// TrackedCounters returns how many use counters the ledger holds.
func (l *Ledger) TrackedCounters() int { return len(l.state.Load().counters) }

// Tracks reports whether the ledger holds the record of approval id.
func (l *Ledger) Tracks(id string) bool { _, ok := l.state.Load().records[id]; return ok }
