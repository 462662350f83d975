package etcdsync

// TrackedCounters returns how many use counters the ledger holds (review test).
func (l *Ledger) TrackedCounters() int { return len(l.state.Load().counters) }
