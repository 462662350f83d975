package jwt

import "sync/atomic"

// Stats is a snapshot of a Verifier's counters. Each counter is exact;
// the snapshot as a whole is not taken atomically.
type Stats struct {
	CacheHits   uint64 // Verify calls answered from the cache
	CacheMisses uint64 // Verify calls that ran the full verification
	Fetches     uint64 // JWKS fetches started
	FetchErrors uint64 // JWKS fetches that failed (the held keys stay in use)
	// ByStatus counts Verify results, indexed by Status.
	ByStatus [numStatus]uint64
}

// counters are the live counters behind Stats.
type counters struct {
	hits, misses, fetches, fetchErrors atomic.Uint64
	byStatus                           [numStatus]atomic.Uint64
}

func (c *counters) snapshot() Stats {
	s := Stats{
		CacheHits:   c.hits.Load(),
		CacheMisses: c.misses.Load(),
		Fetches:     c.fetches.Load(),
		FetchErrors: c.fetchErrors.Load(),
	}
	for i := range c.byStatus {
		s.ByStatus[i] = c.byStatus[i].Load()
	}
	return s
}
