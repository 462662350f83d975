// Validation of clients: their mTLS identities and their key records.

package policy

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

func (v *validator) clients(cs []ClientSpec, tenants map[string]int, scopes map[string]bool) map[string]bool {
	seen, mtlsSeen := map[string]int{}, map[string]string{}
	for i, c := range cs {
		line := v.lines.at("clients", i, "", -1)
		if !idPattern.MatchString(c.ID) {
			v.addf(line, "client id %q must match %s", c.ID, idPattern)
		}
		v.unique(seen, "client", c.ID, line)
		if _, ok := tenants[c.Tenant]; !ok {
			v.addf(v.lines.at("clients", i, "tenant", -1), "client %q: unknown tenant %q", c.ID, c.Tenant)
		}
		for j, s := range c.Scopes {
			if _, ok := scopes[s]; !ok {
				v.addf(v.lines.at("clients", i, "scopes", j), "client %q: unknown scope %q", c.ID, s)
			}
		}
		v.clientLimit(c.Limit, v.lines.at("clients", i, "limit", -1), fmt.Sprintf("client %q limit", c.ID))
		v.mtlsIdentities(c, i, mtlsSeen)
	}
	known := make(map[string]bool, len(seen))
	for id := range seen {
		known[id] = true
	}
	return known
}

// mtlsIdentities checks the certificate identities of client c (the i-th):
// each is an absolute URI (a URI SAN, such as a SPIFFE ID) or
// "subject:" and a distinguished name, and names one client only.
func (v *validator) mtlsIdentities(c ClientSpec, i int, seen map[string]string) {
	for j, id := range c.MTLSIdentities {
		line := v.lines.at("clients", i, "mtls_identities", j)
		if err := checkMTLSIdentity(id); err != nil {
			v.addf(line, "client %q: mtls identity %q: %v", c.ID, id, err)
		}
		if prev, ok := seen[id]; ok {
			v.addf(line, "client %q: mtls identity %q already names client %q", c.ID, id, prev)
			continue
		}
		seen[id] = c.ID
	}
}

// checkMTLSIdentity reports what is wrong with a certificate identity.
func checkMTLSIdentity(id string) error {
	if dn, ok := strings.CutPrefix(id, "subject:"); ok {
		if !strings.Contains(dn, "=") {
			return errors.New(`a subject must be a distinguished name, e.g. "subject:CN=exporter,O=Acme"`)
		}
		return nil
	}
	u, err := url.Parse(id)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
		return errors.New(`must be a URI SAN (e.g. "spiffe://cluster.local/ns/billing/sa/exporter") or "subject:" and a distinguished name`)
	}
	return nil
}

func (v *validator) keys(ks []KeySpec, clients map[string]bool) {
	seen := map[string]int{}
	for i, k := range ks {
		v.unique(seen, "key", k.ID, v.lines.at("keys", i, "", -1))
		if field, err := k.checkField(clients); err != nil {
			v.addf(v.lines.at("keys", i, field, -1), "%v", err)
		}
	}
}

// check validates one key record against the known clients.
func (k *KeySpec) check(clients map[string]bool) error {
	_, err := k.checkField(clients)
	return err
}

// checkField is check that also names the field at fault, for its line.
func (k *KeySpec) checkField(clients map[string]bool) (field string, err error) {
	if !keyIDPattern.MatchString(k.ID) {
		return "id", fmt.Errorf("key id %q must be 8-32 characters [a-z0-9]", k.ID)
	}
	if !clients[k.Client] {
		return "client", fmt.Errorf("key %q: unknown client %q", k.ID, k.Client)
	}
	if b, err := hex.DecodeString(k.SHA256); err != nil || len(b) != 32 {
		return "sha256", fmt.Errorf("key %q: sha256 must be 64 hex digits", k.ID)
	}
	nb, err := parseTime(k.NotBefore)
	if err != nil {
		return "not_before", fmt.Errorf("key %q: not_before: %w", k.ID, err)
	}
	na, err := parseTime(k.NotAfter)
	if err != nil {
		return "not_after", fmt.Errorf("key %q: not_after: %w", k.ID, err)
	}
	if _, err := parseTime(k.CreatedAt); err != nil {
		return "created_at", fmt.Errorf("key %q: created_at: %w", k.ID, err)
	}
	if !na.IsZero() && !nb.IsZero() && !na.After(nb) {
		return "not_after", fmt.Errorf("key %q: not_after %s is not after not_before %s", k.ID, k.NotAfter, k.NotBefore)
	}
	return "", nil
}
