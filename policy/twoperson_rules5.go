package policy

import (
	"fmt"
	"slices"
	"strings"
)

// The kinds weakening rules 5 added (WeakeningRules): a scope its
// holders' keys hold made privileged, and global_limits.max_sidecars
// raised (TestWeakeningsScopeMadePrivilegedNamesItsHolders,
// TestWeakeningsMaxSidecarsRaised).

// maxHoldersListed bounds the clients madePrivileged names a line each;
// past it, one line counts them.
const maxHoldersListed = 10

// madePrivileged lists the scopes next makes privileged that clients
// hold in cur and still hold in next, naming those clients: their keys
// and mTLS identities, made without keys create --approval (the scope was
// not privileged), become privileged credentials. A client given the
// scope by the push is privilegeWeakenings'. Only while cur has
// privileged_key_approval on (the caller's to check).
func madePrivileged(cur, next *Document) []string {
	curPriv := privilegedScopes(cur)
	held := map[string][]string{} // the scopes each client of cur holds
	for _, c := range cur.Clients {
		held[c.ID] = c.Scopes
	}
	var out []string
	for _, s := range next.Scopes {
		if !s.Privileged || curPriv[s.Name] {
			continue
		}
		out = append(out, holderLines(s.Name, holders(next.Clients, held, s.Name))...)
	}
	return out
}

// holders returns the clients of clients that hold scope and held it in
// cur (held), in the document's order.
func holders(clients []ClientSpec, held map[string][]string, scope string) []string {
	var ids []string
	for _, c := range clients {
		if slices.Contains(c.Scopes, scope) && slices.Contains(held[c.ID], scope) {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// holderLines is madePrivileged's lines for scope held by ids: a line
// each, or one counting them when there are more than maxHoldersListed.
func holderLines(scope string, ids []string) []string {
	if len(ids) > maxHoldersListed {
		return []string{fmt.Sprintf("scope %q made privileged, and %d clients hold it (%s and %d more): their keys and mTLS identities become privileged credentials",
			scope, len(ids), strings.Join(ids[:5], ", "), len(ids)-5)}
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, fmt.Sprintf("scope %q made privileged, and client %q holds it: its keys and mTLS identities become privileged credentials", scope, id))
	}
	return out
}

// sidecarsWeakening lists global_limits.max_sidecars raised (or the block
// removed: the default in its place). M bounds how many members share a
// global limit: a sidecar's share never falls below what it is among M,
// so member records put with a stolen sidecar certificate take at most
// (M-1)/M of a busy sidecar's share; a higher M lets them take more. M
// lowered protects more (with more real sidecars than M a deployment may
// admit more than a limit, which the sidecars report:
// portcullis_global_limit_members_over_bound).
func sidecarsWeakening(cur, next *Document) []string {
	was, now := maxSidecars(cur), maxSidecars(next)
	if now <= was {
		return nil
	}
	if next.GlobalLimits == nil {
		return []string{fmt.Sprintf("global_limits.max_sidecars raised from %d to %d (removed: the default): more member records share a global limit, fake ones (a stolen sidecar certificate) included", was, now)}
	}
	return []string{fmt.Sprintf("global_limits.max_sidecars raised from %d to %d: more member records share a global limit, fake ones (a stolen sidecar certificate) included", was, now)}
}

// maxSidecars is d's global_limits.max_sidecars as Compile reads it.
func maxSidecars(d *Document) int {
	if d.GlobalLimits == nil {
		return DefaultGlobalMaxSidecars
	}
	return d.GlobalLimits.MaxSidecars
}
