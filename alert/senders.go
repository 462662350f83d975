package alert

import (
	"slices"
	"strings"
	"time"
)

// maxSenders bounds the senders a group remembers and an alert names:
// records of one client or tenant come from a few sidecars, and a key
// sprayed through many is named by its first maxSenders.
const maxSenders = 16

// A record's tenant, client and key id are what its sender (the token or
// certificate the collector authenticated; collector.StoredRecord.Sender)
// wrote. An alert names the senders that delivered the records counted
// into it, and a containment's alert.contain event carries them, so an
// action driven by a stolen token's forged records is traced to that
// token (collector binding.go binds a token to tenants).

// noteSender remembers that sender delivered a record of the group at t,
// forgetting the sender heard from longest ago when full.
func (g *group) noteSender(sender string, t time.Time) {
	if sender == "" {
		return
	}
	if last, ok := g.senders[sender]; ok {
		if t.After(last) {
			g.senders[sender] = t
		}
		return
	}
	if g.senders == nil {
		g.senders = make(map[string]time.Time, 1)
	}
	if len(g.senders) >= maxSenders {
		oldest := ""
		for s, at := range g.senders {
			if oldest == "" || at.Before(g.senders[oldest]) {
				oldest = s
			}
		}
		delete(g.senders, oldest)
	}
	g.senders[sender] = t
}

// sendersSince returns, sorted, the senders of the group's records at or
// after from: those of the window that fired.
func (g *group) sendersSince(from time.Time) []string {
	var out []string
	for s, at := range g.senders {
		if !at.Before(from) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// addSender adds sender to the alert's senders, kept sorted and at most
// maxSenders.
func (a *Alert) addSender(sender string) {
	i, found := slices.BinarySearch(a.Senders, sender)
	if found || sender == "" || len(a.Senders) >= maxSenders {
		return
	}
	a.Senders = slices.Insert(a.Senders, i, sender)
}

// sendersDetail is the senders of a, as an event detail.
func (a *Alert) sendersDetail() string { return strings.Join(a.Senders, ",") }

// parseSenders is sendersDetail read back.
func parseSenders(d string) []string {
	if d == "" {
		return nil
	}
	return strings.Split(d, ",")
}
