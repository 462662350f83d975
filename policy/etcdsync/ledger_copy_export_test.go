package etcdsync

// HoldState holds the writers of the ledger's state (Run's applies) until
// release is called.
func (l *Ledger) HoldState() (release func()) {
	l.mu.Lock()
	return l.mu.Unlock
}

// Queued returns how many watch responses of approvals Run received.
func (l *Ledger) Queued() int64 { return l.queued.Load() }

// Copies returns how many copies of the state apply made, and how many
// entries they copied.
func (l *Ledger) Copies() (clones, entries int64) { return l.clones.Load(), l.copied.Load() }
