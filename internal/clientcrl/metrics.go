package clientcrl

import (
	"strconv"
	"time"
)

// NextUpdateMetric is the series AppendNextUpdate writes, a gauge, and
// NextUpdateHelp its HELP text: the sidecar (--client-crl) and the
// collector's intake serve it alike, so one alert
// (PortcullisClientCRLExpiringSoon, deploy/observability/rules.yml)
// covers both.
const (
	NextUpdateMetric = "portcullis_tls_client_crl_next_update_seconds"
	NextUpdateHelp   = "Seconds until the nextUpdate of each client CRL in force, by its CA (issuer: its subject; ca_key: the SHA-256 of its public key, first 8 bytes); negative once past it, when every certificate of that CA is refused. A CRL without nextUpdate has no series."
)

// AppendNextUpdate appends to b, in the Prometheus text format, a sample
// of NextUpdateMetric for each CRL of rv that has a nextUpdate: the
// seconds from now until it, negative past it, labelled by its CA's
// subject and key. It appends no HELP or TYPE line. A nil rv appends
// nothing.
func (rv *Set) AppendNextUpdate(b []byte, now time.Time) []byte {
	for _, c := range rv.CRLs() {
		if c.Next.IsZero() {
			continue
		}
		b = append(b, NextUpdateMetric+`{issuer="`...)
		b = appendLabelValue(b, c.Issuer)
		b = append(append(append(b, `",ca_key="`...), c.CAKey...), `"} `...)
		b = strconv.AppendInt(b, int64(c.Next.Sub(now)/time.Second), 10)
		b = append(b, '\n')
	}
	return b
}

// appendLabelValue appends v escaped as a label value of the text
// format: backslash, double quote and line feed.
func appendLabelValue(b []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\', '"':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}
