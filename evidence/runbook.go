package evidence

import (
	"bytes"
	"fmt"
	"strings"
)

// RunbookVersion is the version of the token-compromise runbook; its file
// name carries it instead of the period.
const RunbookVersion = "v1.0"

// runbook writes the token-compromise runbook filled with this
// deployment's etcd endpoints, prefix and data directory, and the
// policy's privileged integrations as the first to check.
func (b *builder) runbook() ([]byte, error) {
	etcd := b.cfg.Etcd
	if etcd == "" {
		etcd = "$PORTCULLIS_ETCD"
	}
	conn := fmt.Sprintf("--etcd %s --prefix %s", etcd, dash(b.cfg.Prefix))
	data := b.cfg.DataDir
	var w bytes.Buffer
	fmt.Fprintf(&w, "# Runbook: API token compromise (%s)\n\nDeployment: etcd `%s`, prefix `%s`, collector data `%s`. Policy in force: revision %d (SHA-256 %s).\n\n",
		RunbookVersion, etcd, dash(b.cfg.Prefix), data, b.inForce.Revision, b.inForce.Digest)
	steps := []struct{ what, cmd string }{
		{"Open a ticket and note its id as TICKET.", ""},
		{"Contain: suspend the client and revoke every key it holds.", "portcullis incident contain --client CLIENT --ticket TICKET --suspend 24h --revoke-keys " + conn},
		{"Or revoke one key (or a token by jti:ID).", "portcullis keys revoke KEY_ID --reason \"compromised\" --ticket TICKET " + conn},
		{"Check every live sidecar applied the change (revision and digest).", "portcullis members list " + conn},
		{"Assess what the credential did.", "portcullis incident assess --client CLIENT --data " + data},
		{"Read the records behind it.", "portcullis audit query --data " + data + " --client CLIENT"},
		{"Prove the trail is intact.", "portcullis audit verify --data " + data + " --public-key COLLECTOR_PUB " + conn},
		{"Issue a successor key once the client is clean.", "portcullis keys create --client CLIENT --ttl 90d --ticket TICKET " + conn},
		{"Lift the suspension.", "portcullis clients resume CLIENT --ticket TICKET " + conn},
	}
	for i, s := range steps {
		fmt.Fprintf(&w, "%d. %s\n", i+1, s.what)
		if s.cmd != "" {
			fmt.Fprintf(&w, "\n   ```sh\n   %s\n   ```\n\n", s.cmd)
		}
	}
	priv := b.privilegedScopes()
	var first []string
	for _, c := range b.doc.Clients {
		for _, s := range c.Scopes {
			if priv[s] {
				first = append(first, c.ID+" ("+mdText(c.Owner)+")")
				break
			}
		}
	}
	fmt.Fprintf(&w, "\nIntegrations holding privileged scopes, the first to check: %s.\n", dash(strings.Join(first, ", ")))
	return w.Bytes(), nil
}
