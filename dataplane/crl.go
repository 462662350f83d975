package dataplane

import (
	"strconv"
	"time"

	"github.com/portcullis/portcullis/internal/clientcrl"
)

// Client certificate revocation (--client-crl) is package clientcrl's:
// the reload parses the CRLs and verifies their signatures against the
// client CAs before the configuration that holds them is swapped in; a
// handshake only looks its chain up in them (VerifyConnection), once per
// connection.

// appendNextUpdate appends a sample of
// portcullis_tls_client_crl_next_update_seconds per CRL in force that
// has a nextUpdate: the seconds from now until it, negative past it. It
// lets an alert fire before a CRL expires and its CA's certificates are
// all refused (deploy/observability/rules.yml,
// PortcullisClientCRLExpiringSoon).
func appendNextUpdate(b []byte, rv *clientcrl.Set, now time.Time) []byte {
	for _, c := range rv.CRLs() {
		if c.Next.IsZero() {
			continue
		}
		b = append(b, `portcullis_tls_client_crl_next_update_seconds{issuer="`...)
		b = appendLabelValue(b, c.Issuer)
		b = append(append(append(b, `",ca_key="`...), c.CAKey...), `"} `...)
		b = strconv.AppendInt(b, int64(c.Next.Sub(now)/time.Second), 10)
		b = append(b, '\n')
	}
	return b
}
