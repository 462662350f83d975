package alert

// A record is its sender's claim, and a sender may name any client and
// source in its records (a sender bound to tenants, any client within
// them): one batch of 10,000 records can name 10,000 clients no policy
// has. The engine made a group for each (its window: some 12 KiB for a
// rule with a day's baseline) and a map of networks, and kept them for as
// long as the rules look back, and fired each one's alerts: a sender
// bound to one tenant, naming a made-up client in every record, took 125
// MB of the collector's memory a batch of 400 KB, and three records of a
// made-up client each opened a dead_credential alert, a ticket per sink,
// 3,333 of them a batch (TestMadeUpClientsBounded).
//
// A sidecar names only the policy's clients and tenants (a token mapped
// to another client is refused), so a client or tenant the policy does
// not name is counted by no rule and learns no network: no one holds it
// to alert about or contain. Sources are a network's addresses, named by
// no policy: their groups share looseBudget, past which a new source is
// not counted, and LooseRefused counts it; the sweep gives the budget
// back as it drops the groups no rule looks back to. A sender flooding
// made-up sources can keep the budget spent, and a new source then goes
// uncounted until the sweep frees room: the price of a collector that
// stays up.

// looseBudget is the memory the groups of sources take at most.
const looseBudget = 64 << 20

// groupOverhead is what a group holds beside its window's buckets: the
// struct, its ring of request ids, its senders (measured: some 1 KiB).
const groupOverhead = 2048

// knownLocked reports whether key, a group value of rule, is a client or
// a tenant the policy names.
func (e *Engine) knownLocked(rule *Rule, key string) bool {
	switch rule.Group {
	case "client":
		return e.idx.clientTenant[key] != ""
	case "tenant":
		return e.idx.tenants[key]
	}
	return false
}

// admitGroupLocked reports whether g, a new group of rule's key, may be
// made: for a client or tenant the policy names, always; for a source,
// when its bytes fit in what is left of looseBudget, which it then takes.
func (e *Engine) admitGroupLocked(rule *Rule, key string, g *group) bool {
	if rule.Group != "source" {
		return e.knownLocked(rule, key)
	}
	if n := groupBytes(g); e.loose+n <= looseBudget {
		e.loose += n
		return true
	}
	e.looseRefused++
	return false
}

// groupBytes is what a group is charged: its window's buckets and the rest.
func groupBytes(g *group) int64 {
	n := int64(groupOverhead)
	if g.w != nil {
		n += 8 * int64(len(g.w.buckets))
	}
	return n
}

// recountLooseLocked sums again what the groups of sources hold: after
// the sweep dropped groups, a restore replaced them, or a policy change
// re-cut their windows.
func (e *Engine) recountLooseLocked() {
	source := make(map[string]bool, len(e.rules))
	for _, r := range e.rules {
		source[r.Name] = r.Group == "source"
	}
	e.loose = 0
	for k, g := range e.groups {
		if source[k.rule] {
			e.loose += groupBytes(g)
		}
	}
}

// LooseRefused is how many times a record's source was left uncounted by
// a rule because the budget of the sources' groups was spent.
func (e *Engine) LooseRefused() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.looseRefused
}
