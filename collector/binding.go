package collector

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// A sender bound to tenants (SenderToken.Tenants, Config.CertTenants)
// may deliver records of those tenants only, and of no tenant (denials
// before a credential was established). Without a binding a sender may
// name any tenant: a sidecar in front of a shared multi-tenant service
// reports every tenant it serves. A record's tenant, client and key id
// are what the sender wrote; the binding is what keeps a stolen sidecar
// token from filing records under another tenant, where they would drive
// its detection rules (suspend, revoke) and its counts in the evidence
// pack.

// notBoundLogEvery is how often a refusal of one sender's batches is
// logged: the first at once, then at most one line a minute.
const notBoundLogEvery = time.Minute

// senderBindings returns the tenants of each bound sender, by sender
// identity ("token:<name>", "cert:<identity>").
func senderBindings(cfg Config) map[string]map[string]struct{} {
	out := map[string]map[string]struct{}{}
	bind := func(sender string, tenants []string) {
		if len(tenants) == 0 {
			return
		}
		set := make(map[string]struct{}, len(tenants))
		for _, t := range tenants {
			set[t] = struct{}{}
		}
		out[sender] = set
	}
	for _, t := range cfg.Tokens {
		bind("token:"+t.Name, t.Tenants)
	}
	for id, tenants := range cfg.CertTenants {
		bind("cert:"+certSenderName(id), tenants) // as certIdentity names it
	}
	// A line may name an identity by the sender name records show of it
	// (cut, #sha256:, digest), which certSenderName digests again: it binds
	// the sender of that name too, unless a line naming an identity whole
	// binds it. Before, such a line bound no certificate, and its holder
	// none (TestCertBindingWrittenInDigestFormHeld).
	for id, tenants := range cfg.CertTenants {
		if _, bound := out["cert:"+id]; !bound && strings.Contains(id, digestMark) {
			bind("cert:"+id, tenants)
		}
	}
	return out
}

// boundLists renders each bound sender's tenants as an entry records
// them: sorted, comma-separated.
func boundLists(bound map[string]map[string]struct{}) map[string]string {
	out := make(map[string]string, len(bound))
	for sender, set := range bound {
		out[sender] = strings.Join(slices.Sorted(maps.Keys(set)), ",")
	}
	return out
}

// notBoundTenant returns the first tenant a record of b names that its
// sender is not bound to, and true; "" and false when every record's
// tenant is the sender's to report.
func (c *Collector) notBoundTenant(sender string, b *Batch) (string, bool) {
	tenants, bound := c.bound[sender]
	if !bound {
		return "", false
	}
	for i := range b.Records {
		t := b.Records[i].Tenant
		if _, ok := tenants[t]; !ok && t != "" {
			return t, true
		}
	}
	return "", false
}

// notBound answers 403 tenant_not_bound to a batch naming a tenant its
// sender is not bound to (nothing of it is stored), counts it and logs it,
// at most once a minute per sender, naming the sender and the tenant,
// never the credential.
func (c *Collector) notBound(w http.ResponseWriter, r *http.Request, sender, tenant string, b *Batch) {
	now := c.cfg.Now()
	c.notBoundMu.Lock()
	last, seen := c.notBoundLogged[sender]
	logIt := !seen || now.Sub(last) >= notBoundLogEvery
	if logIt {
		c.notBoundLogged[sender] = now
	}
	c.notBoundMu.Unlock()
	if logIt {
		c.log.Warn().Str("sender", sender).Str("tenant", tenant).Int("records", len(b.Records)).
			Msg("batch refused: its sender is not bound to a tenant it names (a stolen token, or the token file's tenants= lacks one); nothing of it was stored; further refusals of this sender are logged at most once a minute")
	}
	c.fail(w, r, rejectNotBound, http.StatusForbidden, "tenant_not_bound",
		fmt.Sprintf("sender %s is not bound to tenant %q; the batch was not stored", sender, tenant))
}
